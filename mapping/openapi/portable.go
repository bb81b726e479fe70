package openapi

import (
	"encoding/json"
	"maps"
	"slices"
)

// portable renames the property keys of a converted schema that the
// strictest model APIs refuse (anything outside ^[a-zA-Z0-9_.-]{1,64}$), at
// every depth, and returns the renames as a names tree for the mapping
// function renameKeys, which turns arguments back into the API's real
// property names. An empty tree means nothing was renamed.
func portable(s map[string]any, depth int) map[string]any {
	tree := map[string]any{}
	if depth > maxSchemaDepth*2 {
		return tree
	}
	if props, ok := s["properties"].(map[string]any); ok {
		used := map[string]bool{}
		for k := range props {
			if propertyKeyRE.MatchString(k) {
				used[k] = true
			}
		}
		newProps := make(map[string]any, len(props))
		renamed := map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(props)) {
			nk := k
			if !propertyKeyRE.MatchString(k) {
				nk = argName(k)
				base := nk
				for i := 2; used[nk]; i++ {
					nk = base + "_" + itoa(i)
				}
				used[nk] = true
				renamed[k] = nk
			}
			ps, _ := props[k].(map[string]any)
			entry := map[string]any{}
			if nk != k {
				entry["to"] = k
			}
			if ps != nil {
				if sub := portable(ps, depth+1); len(sub) > 0 {
					entry["keys"] = sub
				}
			}
			if len(entry) > 0 {
				tree[nk] = entry
			}
			newProps[nk] = props[k]
		}
		s["properties"] = newProps
		if req, ok := s["required"].([]any); ok && len(renamed) > 0 {
			out := make([]any, len(req))
			for i, r := range req {
				if n, ok := renamed[r.(string)]; ok {
					out[i] = n
				} else {
					out[i] = r
				}
			}
			s["required"] = out
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		mergeTree(tree, portable(items, depth+1))
	}
	if alts, ok := s["anyOf"].([]any); ok {
		for _, a := range alts {
			if am, ok := a.(map[string]any); ok {
				mergeTree(tree, portable(am, depth+1))
			}
		}
	}
	return tree
}

func mergeTree(dst, src map[string]any) {
	for k, v := range src {
		prev, ok := dst[k].(map[string]any)
		if !ok {
			dst[k] = v
			continue
		}
		e := v.(map[string]any)
		if to, ok := e["to"]; ok {
			prev["to"] = to
		}
		if sub, ok := e["keys"].(map[string]any); ok {
			ps, _ := prev["keys"].(map[string]any)
			if ps == nil {
				ps = map[string]any{}
				prev["keys"] = ps
			}
			mergeTree(ps, sub)
		}
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// valueRef is the expression reading argument key, whose schema it makes
// portable: with renamed keys, renameKeys restores the real names.
func valueRef(key string, schema map[string]any) string {
	ref := argRef(key)
	tree := portable(schema, 0)
	if len(tree) == 0 {
		return ref
	}
	lit, _ := json.Marshal(tree)
	return "renameKeys(" + ref + ", " + string(lit) + ")"
}
