output "ledger_url" {
  description = "In-cluster URL of the ledger."
  value       = module.manifests.ledger_url
}

output "objects" {
  description = "Names of the Kubernetes objects applied."
  value       = keys(module.manifests.manifests)
}
