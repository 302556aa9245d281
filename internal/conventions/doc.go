// Package conventions holds tests that enforce the project's layout rules on the whole tree: every
// package has exactly one package doc comment, no package is named sync, and the import shape
// (transitively, per target system): drivers/ imports neither agent/ nor sync/, sync/ never imports
// agent/, the order domain imports only the standard library, order/waybill and sync/wire, and the
// configuration imports no runtime package.
package conventions
