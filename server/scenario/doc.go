// Package scenario runs the three operational examples of the seed
// (../shared/domain/seed-multi-agency-working.txt) end to end: phones
// enrolled through the real flow record offline and sync to a real server
// over HTTP, and a manager follows the governance findings and trends
// through the ReviewService. It holds only tests.
package scenario
