# Deploys evledger to a Kubernetes cluster: the manifests rendered by
# modules/manifests, applied with the kubernetes provider. Configure the
# provider (kubeconfig or in-cluster) in the calling root module or with
# KUBE_CONFIG_PATH. The Secrets named by signing_key_secret and
# admin_token_secret must exist before the ledger starts.

module "manifests" {
  source               = "./modules/manifests"
  namespace            = var.namespace
  image                = var.image
  origin               = var.origin
  verifier_key         = var.verifier_key
  signing_key_secret   = var.signing_key_secret
  admin_token_secret   = var.admin_token_secret
  storage_size         = var.storage_size
  storage_class        = var.storage_class
  redis_url            = var.redis_url
  kafka_bootstrap      = var.kafka_bootstrap
  sink_egress          = var.sink_egress
  ledger_resources     = var.ledger_resources
  reconciler_resources = var.reconciler_resources
}

resource "kubernetes_manifest" "evledger" {
  for_each = module.manifests.manifests
  manifest = each.value
}
