# Renders the manifests without a cluster: `terraform init && terraform apply`
# then `terraform output -json manifests`. CI runs exactly this offline.

terraform {
  required_version = ">= 1.5.0"
}

module "evledger" {
  source       = "../../modules/manifests"
  namespace    = "evledger"
  image        = "ghcr.io/example/evledger:0.1.0"
  verifier_key = "evledger.local/log+fc651a37+AYxaJvtriy19C6umX2rfxJ70wlyp8ijTy3bMT/TeSZgb"
  # Fan-out: a Kafka cluster, and a webhook receiver inside the company network.
  kafka_bootstrap = ["kafka-0.kafka.svc:9092"]
  sink_egress     = [{ cidr = "10.20.0.0/16", port = 443 }]
}

output "manifests" {
  description = "The rendered manifests."
  value       = module.evledger.manifests
}
