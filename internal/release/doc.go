// Package release holds the product's two contracts and the vocabulary shared by
// every component: the deploy event (the native JSON document and what every
// other source is mapped to), the release record the store keeps, and the
// decision document. Attribute names live in attributes.go, chosen once.
package release
