# Renders evledger's Kubernetes manifests as plain objects, with no provider,
# so `terraform validate` and an apply of the outputs run offline (CI does,
# then checks every manifest against the Kubernetes schema and checkov).
# The root module beside `modules/` applies them with the kubernetes provider.

locals {
  deploy_redis = var.redis_url == ""
  redis_url    = local.deploy_redis ? "redis://evledger-redis.${var.namespace}.svc:6379/0" : var.redis_url
  ledger_url   = "http://evledger-ledger.${var.namespace}.svc:8080"

  labels = {
    "app.kubernetes.io/name"       = "evledger"
    "app.kubernetes.io/managed-by" = "terraform"
  }
  ledger_labels     = merge(local.labels, { "app.kubernetes.io/component" = "ledger" })
  reconciler_labels = merge(local.labels, { "app.kubernetes.io/component" = "reconciler" })
  redis_labels      = merge(local.labels, { "app.kubernetes.io/component" = "redis" })

  # Every container: non-root, read-only root file system, no privileges.
  container_security = {
    runAsNonRoot             = true
    runAsUser                = 65532
    runAsGroup               = 65532
    readOnlyRootFilesystem   = true
    allowPrivilegeEscalation = false
    capabilities             = { drop = ["ALL"] }
    seccompProfile           = { type = "RuntimeDefault" }
  }
  pod_security = {
    runAsNonRoot   = true
    fsGroup        = 65532
    seccompProfile = { type = "RuntimeDefault" }
  }

  probes = {
    livenessProbe = {
      httpGet             = { path = "/healthz", port = "http" }
      initialDelaySeconds = 5
      periodSeconds       = 10
    }
    readinessProbe = {
      httpGet       = { path = "/readyz", port = "http" }
      periodSeconds = 5
    }
  }

  dns_egress = {
    to    = [{ namespaceSelector = {}, podSelector = { matchLabels = { "k8s-app" = "kube-dns" } } }]
    ports = [{ protocol = "UDP", port = 53 }, { protocol = "TCP", port = 53 }]
  }
  redis_egress = {
    # The branches differ in shape; JSON round-trips make them one type.
    to = jsondecode(local.deploy_redis
      ? jsonencode([{ podSelector = { matchLabels = local.redis_labels } }])
    : jsonencode([{ ipBlock = { cidr = "0.0.0.0/0" } }]))
    ports = [{ protocol = "TCP", port = 6379 }]
  }

  # The ledger: ONE writer. A StatefulSet of exactly one replica with its
  # own volume; the RocksDB lock in the data directory refuses a second
  # process even if two pods ever mounted it.
  ledger = {
    apiVersion = "apps/v1"
    kind       = "StatefulSet"
    metadata   = { name = "evledger-ledger", namespace = var.namespace, labels = local.ledger_labels }
    spec = {
      replicas            = 1
      serviceName         = "evledger-ledger-headless"
      podManagementPolicy = "OrderedReady"
      selector            = { matchLabels = local.ledger_labels }
      template = {
        metadata = { labels = local.ledger_labels }
        spec = {
          automountServiceAccountToken  = false
          securityContext               = local.pod_security
          terminationGracePeriodSeconds = 30
          containers = [merge(local.probes, {
            name            = "ledger"
            image           = var.image
            imagePullPolicy = "Always"
            args = [
              "serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data", "--origin", var.origin,
              "--log-format", "json", "--reconcile", "false",
              # Secrets are mounted as files, never passed in the environment.
              "--key-file", "/secrets/signing/signing.key", "--admin-token-file", "/secrets/admin/admin.token",
            ]
            ports = [{ name = "http", containerPort = 8080 }]
            env   = [{ name = "EVLEDGER_REDIS_URL", value = local.redis_url }]
            resources = {
              requests = { cpu = var.ledger_resources.cpu_request, memory = var.ledger_resources.memory_request }
              limits   = { cpu = var.ledger_resources.cpu_limit, memory = var.ledger_resources.memory_limit }
            }
            securityContext = local.container_security
            volumeMounts = [
              { name = "data", mountPath = "/data" },
              { name = "signing-key", mountPath = "/secrets/signing", readOnly = true },
              { name = "admin-token", mountPath = "/secrets/admin", readOnly = true },
            ]
          })]
          volumes = [
            { name = "signing-key", secret = { secretName = var.signing_key_secret, defaultMode = 256 } },
            { name = "admin-token", secret = { secretName = var.admin_token_secret, defaultMode = 256 } },
          ]
        }
      }
      volumeClaimTemplates = [{
        metadata = { name = "data" }
        spec = merge(
          {
            accessModes = ["ReadWriteOnce"]
            resources   = { requests = { storage = var.storage_size } }
          },
          var.storage_class == "" ? {} : { storageClassName = var.storage_class },
        )
      }]
    }
  }

  reconciler = {
    apiVersion = "apps/v1"
    kind       = "Deployment"
    metadata   = { name = "evledger-reconciler", namespace = var.namespace, labels = local.reconciler_labels }
    spec = {
      replicas = 1
      selector = { matchLabels = local.reconciler_labels }
      template = {
        metadata = { labels = local.reconciler_labels }
        spec = {
          automountServiceAccountToken = false
          securityContext              = local.pod_security
          containers = [{
            name            = "reconciler"
            image           = var.image
            imagePullPolicy = "Always"
            args            = ["reconcile", "--url", local.ledger_url, "--key", var.verifier_key, "--redis-url", local.redis_url]
            resources = {
              requests = { cpu = var.reconciler_resources.cpu_request, memory = var.reconciler_resources.memory_request }
              limits   = { cpu = var.reconciler_resources.cpu_limit, memory = var.reconciler_resources.memory_limit }
            }
            securityContext = local.container_security
            # The reconciler serves no HTTP; a failed process restarts.
            livenessProbe = { exec = { command = ["/usr/local/bin/evledger", "--version"] }, periodSeconds = 30 }
          }]
        }
      }
    }
  }

  redis = { for name, object in {
    redis = {
      apiVersion = "apps/v1"
      kind       = "Deployment"
      metadata   = { name = "evledger-redis", namespace = var.namespace, labels = local.redis_labels }
      spec = {
        replicas = 1
        selector = { matchLabels = local.redis_labels }
        template = {
          metadata = { labels = local.redis_labels }
          spec = {
            automountServiceAccountToken = false
            securityContext              = merge(local.pod_security, { fsGroup = 10001 })
            containers = [{
              name            = "redis"
              image           = var.redis_image
              imagePullPolicy = "Always"
              # The index is rebuilt from the log: no persistence needed.
              args  = ["--save", "", "--appendonly", "no"]
              ports = [{ name = "redis", containerPort = 6379 }]
              resources = {
                requests = { cpu = "100m", memory = "128Mi" }
                limits   = { cpu = "1", memory = "512Mi" }
              }
              securityContext = merge(local.container_security, { runAsUser = 10001, runAsGroup = 10001 })
              livenessProbe   = { tcpSocket = { port = "redis" }, periodSeconds = 10 }
              readinessProbe  = { tcpSocket = { port = "redis" }, periodSeconds = 5 }
              volumeMounts    = [{ name = "tmp", mountPath = "/data" }]
            }]
            volumes = [{ name = "tmp", emptyDir = {} }]
          }
        }
      }
    }
    redis_service = {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = "evledger-redis", namespace = var.namespace, labels = local.redis_labels }
      spec       = { selector = local.redis_labels, ports = [{ name = "redis", port = 6379, targetPort = "redis" }] }
    }
    redis_policy = {
      apiVersion = "networking.k8s.io/v1"
      kind       = "NetworkPolicy"
      metadata   = { name = "evledger-redis", namespace = var.namespace, labels = local.redis_labels }
      spec = {
        podSelector = { matchLabels = local.redis_labels }
        policyTypes = ["Ingress", "Egress"]
        # Only the ledger (reads) and the reconciler (writes) reach Redis.
        ingress = [{
          from  = [{ podSelector = { matchLabels = local.ledger_labels } }, { podSelector = { matchLabels = local.reconciler_labels } }]
          ports = [{ protocol = "TCP", port = 6379 }]
        }]
        egress = []
      }
    }
  } : name => object if local.deploy_redis }

  manifests = merge({
    ledger = local.ledger
    ledger_service = {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = "evledger-ledger", namespace = var.namespace, labels = local.ledger_labels }
      spec       = { selector = local.ledger_labels, ports = [{ name = "http", port = 8080, targetPort = "http" }] }
    }
    ledger_headless = {
      apiVersion = "v1"
      kind       = "Service"
      metadata   = { name = "evledger-ledger-headless", namespace = var.namespace, labels = local.ledger_labels }
      spec       = { clusterIP = "None", selector = local.ledger_labels, ports = [{ name = "http", port = 8080, targetPort = "http" }] }
    }
    ledger_pdb = {
      apiVersion = "policy/v1"
      kind       = "PodDisruptionBudget"
      metadata   = { name = "evledger-ledger", namespace = var.namespace, labels = local.ledger_labels }
      # One replica: voluntary disruptions proceed one pod at a time; the
      # budget keeps them from stacking with a rollout.
      spec = { maxUnavailable = 1, selector = { matchLabels = local.ledger_labels } }
    }
    reconciler = local.reconciler
    reconciler_pdb = {
      apiVersion = "policy/v1"
      kind       = "PodDisruptionBudget"
      metadata   = { name = "evledger-reconciler", namespace = var.namespace, labels = local.reconciler_labels }
      spec       = { maxUnavailable = 1, selector = { matchLabels = local.reconciler_labels } }
    }
    ledger_policy = {
      apiVersion = "networking.k8s.io/v1"
      kind       = "NetworkPolicy"
      metadata   = { name = "evledger-ledger", namespace = var.namespace, labels = local.ledger_labels }
      spec = {
        podSelector = { matchLabels = local.ledger_labels }
        policyTypes = ["Ingress", "Egress"]
        # The API is the ledger's job: anyone may reach port 8080.
        ingress = [{ ports = [{ protocol = "TCP", port = 8080 }] }]
        egress = concat(
          [local.dns_egress, local.redis_egress],
          length(var.kafka_bootstrap) == 0 ? [] : [{ to = [{ ipBlock = { cidr = "0.0.0.0/0" } }], ports = [{ protocol = "TCP", port = var.kafka_port }] }],
          [for d in var.sink_egress : { to = [{ ipBlock = { cidr = d.cidr } }], ports = [{ protocol = "TCP", port = d.port }] }],
        )
      }
    }
    reconciler_policy = {
      apiVersion = "networking.k8s.io/v1"
      kind       = "NetworkPolicy"
      metadata   = { name = "evledger-reconciler", namespace = var.namespace, labels = local.reconciler_labels }
      spec = {
        podSelector = { matchLabels = local.reconciler_labels }
        policyTypes = ["Ingress", "Egress"]
        ingress     = []
        # It reads the ledger and writes Redis, nothing else.
        egress = [
          local.dns_egress,
          local.redis_egress,
          { to = [{ podSelector = { matchLabels = local.ledger_labels } }], ports = [{ protocol = "TCP", port = 8080 }] },
        ]
      }
    }
  }, local.redis)
}
