variable "namespace" {
  description = "Kubernetes namespace everything is deployed into (it must exist)."
  type        = string
  default     = "evledger"
  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", var.namespace)) && length(var.namespace) <= 63
    error_message = "namespace must be a DNS-1123 label."
  }
}

variable "image" {
  description = "Container image of evledger, pinned by tag or digest (built from the repository's Dockerfile)."
  type        = string
  validation {
    condition     = can(regex("^[^\\s]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$", var.image))
    error_message = "image must carry a tag or a sha256 digest."
  }
}

variable "origin" {
  description = "Log origin (the checkpoint's first line); must be the name of the signing key."
  type        = string
  default     = "evledger.local/log"
  validation {
    condition     = length(var.origin) > 0 && !can(regex("[\\s+]", var.origin))
    error_message = "origin must be non-empty without spaces or '+'."
  }
}

variable "verifier_key" {
  description = "The log's note verifier key (name+keyid+base64), public: the reconciler verifies every checkpoint with it."
  type        = string
  validation {
    condition     = can(regex("^[^+\\s]+\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]+=*$", var.verifier_key))
    error_message = "verifier_key must be name+<8 hex>+<base64>."
  }
}

variable "signing_key_secret" {
  description = "Name of the Secret holding the log's signer key under the key `signing.key`."
  type        = string
  default     = "evledger-signing-key"
}

variable "admin_token_secret" {
  description = "Name of the Secret holding the admin token under the key `admin.token`."
  type        = string
  default     = "evledger-admin-token"
}

variable "storage_size" {
  description = "Size of the ledger's PersistentVolumeClaim (RocksDB: log, evidence store, CAS)."
  type        = string
  default     = "20Gi"
  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi|Ti)$", var.storage_size))
    error_message = "storage_size must look like 20Gi."
  }
}

variable "storage_class" {
  description = "StorageClass of the ledger's volume; empty for the cluster default."
  type        = string
  default     = ""
}

variable "redis_url" {
  description = "URL of an external or managed Redis for the search index; empty deploys a Redis in the namespace."
  type        = string
  default     = ""
  validation {
    condition     = var.redis_url == "" || can(regex("^rediss?://", var.redis_url))
    error_message = "redis_url must be empty or start with redis:// or rediss://."
  }
}

variable "redis_image" {
  description = "Image of the in-namespace Redis (used only when redis_url is empty)."
  type        = string
  default     = "redis:7.2-alpine"
}

variable "kafka_bootstrap" {
  description = "Kafka bootstrap servers (host:port) the ledger may reach for fan-out; empty for none."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for s in var.kafka_bootstrap : can(regex("^[^:\\s]+:[0-9]+$", s))])
    error_message = "each kafka_bootstrap entry must be host:port."
  }
}

variable "kafka_port" {
  description = "Port the NetworkPolicy opens towards the Kafka brokers."
  type        = number
  default     = 9092
}

variable "sink_egress" {
  description = "Other destinations the ledger's fan-out may reach (webhooks, gRPC alert receivers): a CIDR and a TCP port each."
  type = list(object({
    cidr = string
    port = number
  }))
  default = []
  validation {
    condition     = alltrue([for d in var.sink_egress : can(cidrhost(d.cidr, 0)) && d.port > 0 && d.port < 65536])
    error_message = "each sink_egress entry needs a valid CIDR and a port from 1 to 65535."
  }
}

variable "ledger_resources" {
  description = "CPU and memory requests and limits of the ledger container."
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
  description = "CPU and memory requests and limits of the reconciler container."
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
