{{- define "hro.name" -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- define "hro.labels" -}}
app.kubernetes.io/name: hybridroute-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "hro.selector" -}}
app.kubernetes.io/name: hybridroute-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "hro.clusterwide" -}}{{ if .Values.watchNamespaces }}false{{ else }}true{{ end }}{{- end -}}
{{/* The rules the operator needs in every namespace it watches. */}}
{{- define "hro.rules" -}}
- apiGroups: [inferensys.io]
  resources: [hybridroutes]
  verbs: [get, list, watch]
- apiGroups: [inferensys.io]
  resources: [hybridroutes/status]
  verbs: [get, patch]
# Children carry an ownerReference with blockOwnerDeletion: true; with the
# OwnerReferencesPermissionEnforcement admission plugin that needs update on the owner's
# finalizers subresource (the operator sets no finalizers).
- apiGroups: [inferensys.io]
  resources: [hybridroutes/finalizers]
  verbs: [update]
# Children: created and updated by server-side apply, deleted when pruned.
- apiGroups: [""]
  resources: [configmaps, services, serviceaccounts]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [monitoring.coreos.com]
  resources: [servicemonitors]
  verbs: [get, list, watch, create, patch, delete]
{{- if .Values.prometheus.bearerTokenSecrets }}
# Bearer tokens for Prometheus (spec.adaptation/canary.prometheus.bearerTokenSecretRef).
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end }}
# Readiness of the model pods behind each Service.
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
# kopf: warnings as Events, and peering between replicas.
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end -}}
