package config

// ReadOneTime reads path as the daemon does when it may open it itself.
func ReadOneTime(path string) ([]OneTimeSeq, error) { return ReadOneTimeWith(OpenOneTime, path) }

// MarkUsed marks s used in path, opened by the test itself.
func MarkUsed(path string, s OneTimeSeq) error { return MarkUsedWith(OpenOneTime, path, s) }
