// Package openapi turns an OpenAPI document (Swagger 2.0, OpenAPI 3.0 or
// 3.1, JSON or YAML) into tool declarations ([mapping.Spec]) plus warnings.
//
// It stands before the walk of a request: package configs calls it while
// loading mcp.yaml, and the specs it returns are compiled by [mapping.Compile]
// exactly like declared tools. It never fetches a network $ref; local refs
// are read only from beside the spec.
//
// Large documents are the common case (GitHub's is 13 MB with 1,000+
// operations), so the document is decoded once into plain JSON values and
// only the parts that operations reference are converted. kin-openapi converts
// Swagger 2.0 documents and validates small documents, whose problems become
// warnings.
package openapi
