package mapping

import (
	"errors"
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// evalBudget bounds the work of all expressions of one tool call, in units
// of roughly one byte produced or one loop step: 32 Mi units.
//
// expr's own limits bound the syntax tree (MaxNodes) and the elements of
// ranges, arrays and maps built in one run (its memory budget), but not the
// bytes that builtins and functions produce, nor how often a predicate runs.
// Arguments come from the model, so `map(args.items, toJSON(args))`, a nested
// loop over an argument array, or `upper(args.text)` in a loop would cost
// time and memory proportional to a product of argument sizes. meteredCalls
// wraps every call, string concatenation and predicate body so that each
// charges its result's size to the call's meter; a call past the budget
// fails with an error instead of hanging or exhausting memory.
const evalBudget = 32 << 20

// Meter counts the work of the expressions of one tool call. Expressions
// reach it as __meter, through the wrappers meteredCalls inserts.
type Meter struct {
	left int
}

func newMeter() *Meter { return &Meter{left: evalBudget} }

// stepCost is what one run of a predicate body costs: a loop step takes
// about as long as producing this many bytes.
const stepCost = 64

// The calls meteredCalls inserts: __charge(__meter, v) deducts v's size
// from the budget and returns v unchanged, __step(__meter, v) one loop step
// and v's size. They are expr functions rather than methods of Meter: expr
// calls a function directly, and a method through reflection, which cost a
// sixth of the run of an expression looping over a list.
const (
	chargeName = "__charge"
	stepName   = "__step"
)

// errNoMeter fails a metered call whose first argument is not the meter:
// it cannot happen (only the patcher writes these calls, and expressions
// cannot shadow __meter), and a call that could would not go unmetered.
var errNoMeter = errors.New("internal error: an expression call without its meter")

// meterOptions registers the two for the metered compilation; expressions
// as written cannot call them (the first compilation does not know them).
func meterOptions() []expr.Option {
	// metered charges extra and v's size to the meter in its first argument.
	metered := func(name string, extra int) expr.Option {
		return expr.Function(name, func(args ...any) (any, error) {
			m, ok := args[0].(*Meter)
			if !ok {
				return nil, errNoMeter
			}
			return m.charge(args[1], extra+sizeOf(args[1]))
		})
	}
	return []expr.Option{metered(chargeName, 0), metered(stepName, stepCost)}
}

func (m *Meter) charge(v any, n int) (any, error) {
	if m == nil {
		return v, nil
	}
	m.left -= n
	if m.left < 0 {
		return nil, fmt.Errorf("the expressions of this call exceeded their evaluation budget (%d units of bytes produced and loop steps)", evalBudget)
	}
	return v, nil
}

// sizeOf estimates what producing v cost: its bytes for strings, a few
// units per element for arrays and objects, one unit otherwise.
func sizeOf(v any) int {
	switch v := v.(type) {
	case string:
		return 1 + len(v)
	case []any:
		return 1 + 8*len(v)
	case map[string]any:
		return 1 + 16*len(v)
	case []string:
		n := 1
		for _, s := range v {
			n += 8 + len(s)
		}
		return n
	case FilePart:
		return 1 + len(v.Data)
	}
	return 1
}

// meterName is the environment field expressions reach the meter by.
const meterName = "__meter"

// meteredCalls is an expr patcher: it wraps function and builtin calls and
// + operations in __charge(__meter, …), and predicate bodies in
// __step(__meter, …).
type meteredCalls struct{}

func (meteredCalls) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		if isMeterCall(n) {
			return
		}
	case *ast.BuiltinNode:
	case *ast.BinaryNode:
		if n.Operator != "+" {
			return
		}
	case *ast.PredicateNode:
		n.Node = meterCall(stepName, n.Node)
		return
	default:
		return
	}
	ast.Patch(node, meterCall(chargeName, *node))
}

// meterCall wraps n in fn(__meter, n).
func meterCall(fn string, n ast.Node) ast.Node {
	return &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fn},
		Arguments: []ast.Node{&ast.IdentifierNode{Value: meterName}, n},
	}
}

func isMeterCall(n *ast.CallNode) bool {
	id, ok := n.Callee.(*ast.IdentifierNode)
	return ok && (id.Value == chargeName || id.Value == stepName)
}
