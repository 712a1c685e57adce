package feed_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"testing"

	"livefeed/feed"
)

// TestErrorKinds: each kind of error is answered with its status, and a
// refused publish of that status is counted under its reason, whether the
// error is the kind itself, an *Error of it or wraps it. The statuses are
// the product contract's; the reasons are the label values of
// livefeed_publish_failures_total that dashboards and alerts select on
// (web/docs/operations.md, "Monitoring"). A status read back gives the kind (the first of
// the kinds sharing it).
func TestErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		kind   error
		status int
		reason string
		back   error // the kind the status reads back as
	}{
		{feed.ErrInvalid, 400, "invalid", feed.ErrInvalid},
		{feed.ErrUnauthorized, 401, "unauthorized", feed.ErrUnauthorized},
		{feed.ErrForbidden, 403, "forbidden", feed.ErrForbidden},
		{feed.ErrNotFound, 404, "not_found", feed.ErrNotFound},
		{feed.ErrNotAllowed, 405, "not_allowed", feed.ErrNotAllowed},
		{feed.ErrTimeout, 408, "timeout", feed.ErrTimeout},
		{feed.ErrConflict, 409, "conflict", feed.ErrConflict},
		{feed.ErrTooLarge, 413, "too_large", feed.ErrTooLarge},
		{feed.ErrKeyReused, 422, "invalid", feed.ErrKeyReused},
		{feed.ErrRateLimited, 429, "rate_limited", feed.ErrRateLimited},
		{feed.ErrUnavailable, 503, "unavailable", feed.ErrUnavailable},
		{feed.ErrClosed, 503, "unavailable", feed.ErrUnavailable},
		{feed.ErrTopicLimit, 507, "topic_limit", feed.ErrTopicLimit},
	} {
		t.Run(tc.kind.Error(), func(t *testing.T) {
			for _, err := range []error{tc.kind, feed.Errorf(tc.kind, "for the client"), fmt.Errorf("wrapped: %w", tc.kind)} {
				if got, ok := feed.StatusOf(err); !ok || got != tc.status {
					t.Errorf("StatusOf(%v) = %d, %v; want %d", err, got, ok, tc.status)
				}
			}
			if got := feed.ReasonOf(tc.status); got != tc.reason {
				t.Errorf("ReasonOf(%d) = %q, want %q", tc.status, got, tc.reason)
			}
			back := feed.KindOf(tc.status)
			if back != tc.back {
				t.Errorf("KindOf(%d) = %v, want %v", tc.status, back, tc.back)
			}
			if status, _ := feed.StatusOf(back); status != tc.status {
				t.Errorf("StatusOf(KindOf(%d)) = %d: the status does not round-trip", tc.status, status)
			}
		})
	}
}

// TestErrorKindsNone: an error of no kind, and a status of no kind, are
// internal errors.
func TestErrorKindsNone(t *testing.T) {
	for _, err := range []error{errors.New("disk on fire"), feed.ErrPruned, feed.ErrAhead, nil} {
		if status, ok := feed.StatusOf(err); ok {
			t.Errorf("StatusOf(%v) = %d, want none", err, status)
		}
	}
	for _, status := range []int{200, 201, 499, 500, 502} {
		if kind := feed.KindOf(status); kind != nil {
			t.Errorf("KindOf(%d) = %v, want nil", status, kind)
		}
		if got := feed.ReasonOf(status); got != "internal" {
			t.Errorf("ReasonOf(%d) = %q, want internal", status, got)
		}
	}
}

// TestReasons: Reasons lists each reason ReasonOf gives for any status,
// once, and no other: the label values the metrics count from 0.
func TestReasons(t *testing.T) {
	var given []string
	for status := 100; status < 600; status++ {
		if r := feed.ReasonOf(status); !slices.Contains(given, r) {
			given = append(given, r)
		}
	}
	got := feed.Reasons()
	slices.Sort(given)
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, given) {
		t.Errorf("Reasons() = %q, want each of %q once", got, given)
	}
}

// TestErrorKindsComplete: every kind errors.go declares is in its table
// of statuses, but for the positions a subscriber resumes from (answered
// with a reset event, never a status). A kind added without a status
// would be answered 500 "internal error".
func TestErrorKindsComplete(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared, tabled []string
	for _, decl := range file.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.VAR {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				switch {
				case name.Name == "kinds":
					for _, elt := range vs.Values[i].(*ast.CompositeLit).Elts {
						tabled = append(tabled, elt.(*ast.CompositeLit).Elts[0].(*ast.Ident).Name)
					}
				case len(vs.Values) > i && isErrorsNew(vs.Values[i]):
					declared = append(declared, name.Name)
				}
			}
		}
	}
	if len(declared) == 0 || len(tabled) == 0 {
		t.Fatalf("found %d kinds and %d entries in errors.go: the test no longer reads it", len(declared), len(tabled))
	}
	for _, name := range declared {
		if !slices.Contains(tabled, name) && name != "ErrPruned" && name != "ErrAhead" {
			t.Errorf("%s has no status in the table of kinds", name)
		}
	}
}

// isErrorsNew reports whether e is a call of errors.New.
func isErrorsNew(e ast.Expr) bool {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "errors" && sel.Sel.Name == "New"
}
