//go:build tools

// Package tools pins the kustomize CLI that the conformance suite uses as its oracle.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
