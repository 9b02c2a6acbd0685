variable "namespace" {
  description = "Kubernetes namespace (it must exist)."
  type        = string
  default     = "evledger"
}

variable "image" {
  description = "evledger container image, pinned by tag or digest."
  type        = string
}

variable "origin" {
  description = "Log origin: the name of the signing key."
  type        = string
  default     = "evledger.local/log"
}

variable "verifier_key" {
  description = "The log's public note verifier key."
  type        = string
}

variable "signing_key_secret" {
  description = "Secret holding the signer key under `signing.key`."
  type        = string
  default     = "evledger-signing-key"
}

variable "admin_token_secret" {
  description = "Secret holding the admin token under `admin.token`."
  type        = string
  default     = "evledger-admin-token"
}

variable "storage_size" {
  description = "Size of the ledger's volume."
  type        = string
  default     = "20Gi"
}

variable "storage_class" {
  description = "StorageClass of the ledger's volume; empty for the default."
  type        = string
  default     = ""
}

variable "redis_url" {
  description = "External Redis URL; empty deploys one in the namespace."
  type        = string
  default     = ""
}

variable "kafka_bootstrap" {
  description = "Kafka bootstrap servers for fan-out (host:port); empty for none."
  type        = list(string)
  default     = []
}

variable "sink_egress" {
  description = "Other fan-out destinations the ledger may reach (webhooks, gRPC alert receivers), as CIDR and TCP port."
  type = list(object({
    cidr = string
    port = number
  }))
  default = []
}

variable "ledger_resources" {
  description = "Ledger container requests and limits."
  type = object({
    cpu_request    = string
    memory_request = string
    cpu_limit      = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "500m"
    memory_request = "512Mi"
    cpu_limit      = "2"
    memory_limit   = "1Gi"
  }
}

variable "reconciler_resources" {
  description = "Reconciler container requests and limits."
  type = object({
    cpu_request    = string
    memory_request = string
    cpu_limit      = string
    memory_limit   = string
  })
  default = {
    cpu_request    = "100m"
    memory_request = "128Mi"
    cpu_limit      = "1"
    memory_limit   = "256Mi"
  }
}
