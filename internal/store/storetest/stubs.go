package storetest

import "testing"

func testConcurrency(t *testing.T, h Harness) { t.Skip("not written yet") }
func testTwoWriters(t *testing.T, h Harness)  { t.Skip("not written yet") }
