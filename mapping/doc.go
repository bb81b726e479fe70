// Package mapping compiles one tool declaration into a [Tool] and runs it:
// arguments in, an upstream HTTP request out; an upstream response in, a tool
// result out.
//
// In the walk of a tools/call it stands between the tool handler (package
// proxy) and the upstream client: the handler passes the raw arguments to
// [Tool.BuildRequest], sends the [Request] it gets, and hands the response to
// [Tool.ShapeResponse]. Everything that can be checked is checked by
// [Compile], at load: the input JSON Schema, the path template and every expr
// expression, so a tool that compiles fails at call time only for reasons
// that depend on the call.
//
// The package is pure: it knows nothing of MCP, HTTP servers, configuration
// files or authentication, and its compiled values are immutable and safe for
// concurrent use.
package mapping
