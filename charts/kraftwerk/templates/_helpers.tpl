{{/* The release's full name: the release name when it contains the chart name, else both. */}}
{{- define "kraftwerk.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kraftwerk.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kraftwerk.labels" -}}
{{ include "kraftwerk.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kraftwerk.serviceAccountName" -}}
{{- default (include "kraftwerk.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "kraftwerk.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The rules on KafkaClusters and what they are made of: the ClusterRole or each namespace's Role. */}}
{{- define "kraftwerk.rules" -}}
# Each rule is exactly what the operator's code calls (docs/security.md lists the call sites).
# KafkaClusters: list+watch (the controller), get (reading a resource that does not
# deserialize), patch (the ordered-shutdown finalizer). No create, update or delete.
- apiGroups: ["kraftwerk.dev"]
  resources: ["kafkaclusters"]
  verbs: ["get", "list", "watch", "patch"]
# Status: server-side apply (patch) only.
- apiGroups: ["kraftwerk.dev"]
  resources: ["kafkaclusters/status"]
  verbs: ["patch"]
# What a cluster is made of, read from label-selected watches (list+watch, no get). Written by
# server-side apply, which needs create as well as patch when the object does not exist yet;
# delete for pruning, restarts and scale-down. No update.
- apiGroups: [""]
  resources: ["pods", "services", "configmaps", "persistentvolumeclaims"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# Secrets: the operator's own TLS Secrets (cluster CA, trust bundle, node and operator
# certificates) and KafkaUser credentials Secrets, from label-selected watches (list+watch);
# the metadata (no data) of every Secret, so a changed listener certificate is seen (get);
# written by server-side apply or created (a new user's password), patched (annotations),
# replaced whole (update) when a KafkaUser switches between tls and SCRAM; get for a user's CA
# Secret (spec.security.tls.ca.secretName) and to tell a KafkaUser's Secret from a foreign one
# of the same name. KafkaUser Secrets go by garbage collection (owner reference).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "update"]
# KafkaUsers: list+watch (their controller), patch (their finalizer); status by server-side apply.
- apiGroups: ["kraftwerk.dev"]
  resources: ["kafkausers"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["kraftwerk.dev"]
  resources: ["kafkausers/status"]
  verbs: ["patch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["networkpolicies"]
  verbs: ["list", "watch", "create", "patch", "delete"]
# Events about the clusters it manages (a repeated Event is a patch of its series).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}

{{- define "kraftwerk.nodeRules" -}}
# Node labels for placement (LIKE/UNLIKE) and rack awareness, node readiness for node-loss
# recovery, node addresses for node port listeners: one watch. The PersistentVolume of a pod
# stranded on a lost node is read to tell a node-local volume from one other nodes reach.
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["persistentvolumes"]
  verbs: ["get"]
{{- end -}}
