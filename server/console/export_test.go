package console

// RuleName is ruleName, for the tests.
var RuleName = ruleName

// ReasonSentence is reasonSentence, for the tests.
var ReasonSentence = reasonSentence
