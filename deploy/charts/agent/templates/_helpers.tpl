{{/* The chart's name, at most 63 characters. */}}
{{- define "flotilla-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Object names: fullnameOverride; else the release name when it already contains the chart's name
(release "flotilla-agent"); else the chart's name when it starts with the release name (release
"flotilla" gives "flotilla-agent"); else "<release>-<name>".
*/}}
{{- define "flotilla-agent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "flotilla-agent.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else if hasPrefix (printf "%s-" .Release.Name) $name -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "flotilla-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flotilla-agent.labels" -}}
{{ include "flotilla-agent.selectorLabels" . }}
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/component: agent
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "flotilla-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flotilla-agent.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "flotilla-agent.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key the bootstrap token comes from. */}}
{{- define "flotilla-agent.tokenSecretName" -}}
{{- if .Values.hub.token -}}
{{- printf "%s-join-token" (include "flotilla-agent.fullname" .) -}}
{{- else -}}
{{- .Values.hub.tokenSecret.name -}}
{{- end -}}
{{- end -}}

{{- define "flotilla-agent.tokenSecretKey" -}}
{{- ternary "token" .Values.hub.tokenSecret.key (not (empty .Values.hub.token)) -}}
{{- end -}}

{{/* Refuses values the schema cannot check well, naming the value to set. */}}
{{- define "flotilla-agent.validate" -}}
{{- if not .Values.hub.url -}}
{{- fail "hub.url is required: the hub's https:// URL from `flotilla cluster token create`" -}}
{{- end -}}
{{- if not .Values.hub.caHash -}}
{{- fail "hub.caHash is required: sha256:<hex> from `flotilla cluster token create`" -}}
{{- end -}}
{{- if not .Values.cluster.name -}}
{{- fail "cluster.name is required: the cluster's name on the hub" -}}
{{- end -}}
{{- if and .Values.hub.token .Values.hub.tokenSecret.name -}}
{{- fail "set hub.tokenSecret.name or hub.token, not both" -}}
{{- end -}}
{{- if not (or .Values.hub.token .Values.hub.tokenSecret.name) -}}
{{- fail "hub.tokenSecret.name is required: a Secret holding the bootstrap token from `flotilla cluster token create`" -}}
{{- end -}}
{{- if and (eq .Values.rbac.scope "namespaced") .Values.rbac.create (not .Values.rbac.namespaces) -}}
{{- fail "rbac.scope namespaced needs rbac.namespaces: the namespaces the agent manages" -}}
{{- end -}}
{{- end -}}
