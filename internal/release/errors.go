package release

import (
	"errors"
	"fmt"
)

// FieldError rejects input and says which field broke which rule, so the sender
// can fix the request without reading our code.
type FieldError struct {
	Field   string `json:"field"`
	Rule    string `json:"rule"`
	Message string `json:"error"`
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s", e.Field, e.Message)
}

// Rules named in FieldError.Rule.
const (
	RuleRequired  = "required"
	RuleSyntax    = "syntax"
	RuleType      = "type"
	RuleEnum      = "enum"
	RuleRange     = "range"
	RuleFuture    = "max_future_skew"
	RuleFormat    = "format"
	RuleTooLong   = "max_length"
	RuleUnmapped  = "unmapped"
	RuleForbidden = "forbidden"
	// Rules of the door, checked on every body before a source reads it.
	RuleCharset      = "charset"
	RuleUTF8         = "utf8"
	RuleDuplicateKey = "duplicate_key"
)

// Fieldf builds a FieldError.
func Fieldf(field, rule, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// AsFieldError reports whether err carries a FieldError.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}
