package adb

// Array stores the items of an array (Null items are the caller's to
// leave out); an empty array is Null.
func (b *Builder) Array(items ...Val) Val { return b.slots(TypeArray, items) }
