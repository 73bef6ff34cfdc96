// Package archtest holds the test of bottle's import rules: which package may
// depend on which. It has no code of its own.
package archtest
