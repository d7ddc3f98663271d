//go:build knockd_nospa

package spa

// digestAlgs: none in a knockd built without SPA (knockd_nospa): its
// configuration refuses SPA doors before a digest is looked up.
var digestAlgs []digestAlg
