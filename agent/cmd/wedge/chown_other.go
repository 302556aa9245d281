//go:build !unix

package main

// chownLike does nothing off Unix: the data directory's ACLs apply to new files.
func chownLike(string, string) error { return nil }
