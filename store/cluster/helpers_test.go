package cluster_test

import (
	"bytes"
	"encoding/json"
)

func jsonUnmarshal(b []byte, v any) { json.Unmarshal(b, v) }

func contains(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }
