output "manifests" {
  description = "Every Kubernetes object of the deployment, by name, as a plain object (apply with kubernetes_manifest)."
  value       = local.manifests
}

output "ledger_url" {
  description = "In-cluster URL of the ledger's API and C2SP paths."
  value       = local.ledger_url
}

output "redis_url" {
  description = "The Redis the index lives in."
  value       = local.redis_url
}

output "kafka_bootstrap_servers" {
  description = "The Kafka bootstrap servers the ledger may reach, comma-separated: pass them to `evledger integration register kafka --bootstrap-servers`."
  value       = join(",", var.kafka_bootstrap)
}
