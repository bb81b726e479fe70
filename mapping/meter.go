package mapping

import (
	"fmt"

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

// Charge deducts v's size from the budget and returns v unchanged.
func (m *Meter) Charge(v any) (any, error) {
	return m.charge(v, sizeOf(v))
}

// Step deducts one loop step (and v's size) and returns v unchanged.
func (m *Meter) Step(v any) (any, error) {
	return m.charge(v, stepCost+sizeOf(v))
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
// + operations in __meter.Charge(…), and predicate bodies in
// __meter.Step(…).
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
		n.Node = meterCall("Step", n.Node)
		return
	default:
		return
	}
	ast.Patch(node, meterCall("Charge", *node))
}

// meterCall wraps n in __meter.method(n).
func meterCall(method string, n ast.Node) ast.Node {
	return &ast.CallNode{
		Callee: &ast.MemberNode{
			Node:     &ast.IdentifierNode{Value: meterName},
			Property: &ast.StringNode{Value: method},
			Method:   true,
		},
		Arguments: []ast.Node{n},
	}
}

func isMeterCall(n *ast.CallNode) bool {
	m, ok := n.Callee.(*ast.MemberNode)
	if !ok {
		return false
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	return ok && id.Value == meterName
}
