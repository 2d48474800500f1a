// Package scenario runs the three operational examples of the seed
// (../shared/domain/seed-multi-agency-working.txt) end to end: phones
// enrolled through the real flow record offline and sync to a real server
// over HTTP, and a manager follows the governance findings and trends
// through the ReviewService. At the end of each, the store moves to
// PostgreSQL as copy-store moves it, every table's rows compared, and the
// phones sync on through the same address. It holds only tests.
package scenario
