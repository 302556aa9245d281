package console

// HashPasswordIter lets tests make cheap hashes (the format carries the iteration count).
var HashPasswordIter = hashPassword
