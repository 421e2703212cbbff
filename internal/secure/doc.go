// Package secure holds the security settings of an asf cluster: mutual TLS on
// every gRPC hop, the gossip encryption key and cluster label, and the join
// token; and `asf certs init`, which creates a CA and node certificates.
//
// # Identity: roles, not host names
//
// Worker addresses are dynamic (compose scaling, pod IPs), so a peer is not
// identified by its host name. A certificate is accepted when
//
//  1. its chain verifies against the cluster's CA (the --tls-ca file), and
//  2. it carries a role URI SAN, asf://role/<role>: coordinator, worker or
//     client (the asf command: status, health).
//
// Roles then decide what a peer may do. Servers accept any role of the CA at
// the handshake; the coordinator lets only workers call its worker methods
// (join, tasks, reports, state), anyone call Status and the health service;
// a worker lets only workers and the coordinator call the all-reduce and
// state services. Clients check the server's role too: a worker dialling the
// coordinator wants the coordinator role, one dialling a ring neighbour the
// worker role, so a worker certificate cannot pose as the coordinator.
//
// Host names in a certificate (the SANs written by Init) are informative and
// not checked. Anyone holding a key signed by the CA with a role can take that
// role: keep ca.key off the nodes (only Init needs it).
//
// # Refusals
//
// The server does the client verification itself (tls.RequestClientCert and
// a VerifyConnection callback) so that it can log every refused connection
// with its reason: no client certificate, a certificate of another CA, a role
// that is not accepted, or a failed handshake (a plaintext client).
//
// # Plaintext
//
// A nil *TLS means plaintext gRPC: anyone who can reach the ports can join
// the cluster, read the model and feed it gradients. Processes log a warning
// saying so. It is the default only of the embedded `asf train` cluster, whose
// ports are on 127.0.0.1.
package secure
