package replica

// SetNegativeControls turns the deliberately broken behaviours on or off, for
// the property test to prove it catches them.
func SetNegativeControls(brokenMerge, lossyOutbox bool) {
	invertMerge, forgetOnError = brokenMerge, lossyOutbox
}
