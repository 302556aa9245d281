// Package conventions holds tests that enforce the project's layout rules on the whole tree: every
// package has exactly one package doc comment, no package is named sync, and drivers/ imports
// neither agent/ nor sync/.
package conventions
