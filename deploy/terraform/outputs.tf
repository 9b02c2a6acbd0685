output "ledger_url" {
  description = "In-cluster URL of the ledger."
  value       = module.manifests.ledger_url
}

output "objects" {
  description = "Names of the Kubernetes objects applied."
  value       = keys(module.manifests.manifests)
}

output "kafka_bootstrap_servers" {
  description = "Bootstrap servers to register a Kafka integration with (evledger integration register kafka)."
  value       = module.manifests.kafka_bootstrap_servers
}
