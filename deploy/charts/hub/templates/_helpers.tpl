{{/* The chart's name, at most 63 characters. */}}
{{- define "flotilla-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Object names: fullnameOverride; else the release name when it already contains the chart's name
(release "flotilla-hub"); else the chart's name when it starts with the release name (release
"flotilla" gives "flotilla-hub"); else "<release>-<name>".
*/}}
{{- define "flotilla-hub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "flotilla-hub.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else if hasPrefix (printf "%s-" .Release.Name) $name -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "flotilla-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "flotilla-hub.labels" -}}
{{ include "flotilla-hub.selectorLabels" . }}
app.kubernetes.io/part-of: flotilla
app.kubernetes.io/component: hub
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "flotilla-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flotilla-hub.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "flotilla-hub.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Service's in-cluster DNS names, which the self-made serving certificate must cover. */}}
{{- define "flotilla-hub.serviceHosts" -}}
{{- $svc := include "flotilla-hub.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.clusterDomain) | join "," -}}
{{- end -}}

{{/*
The URL that goes into join commands: publicUrl; else https://<ingress.host> with an Ingress;
else the Service's cluster-local name (only agents in this cluster can use it).
*/}}
{{- define "flotilla-hub.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl -}}
{{- else if .Values.ingress.enabled -}}
{{- printf "https://%s" .Values.ingress.host -}}
{{- else -}}
{{- printf "https://%s.%s.svc:%d" (include "flotilla-hub.fullname" .) .Release.Namespace (int .Values.service.port) -}}
{{- end -}}
{{- end -}}

{{/* True (non-empty) when NATS is configured. */}}
{{- define "flotilla-hub.natsConfigured" -}}
{{- if or .Values.nats.url .Values.nats.urlSecret.name -}}true{{- end -}}
{{- end -}}

{{/*
Refuses value combinations the schema cannot express well, with the values to change. The
embedded store (PGlite) and the in-process bus serve one replica; several replicas also need one
certificate, since each would otherwise make its own CA and agents pin the CA.
*/}}
{{- define "flotilla-hub.validate" -}}
{{- $replicas := int .Values.replicas -}}
{{- if gt $replicas 1 -}}
{{- if not .Values.database.urlSecret.name -}}
{{- fail (printf "replicas: %d needs PostgreSQL: set database.urlSecret.name (the embedded PGlite store serves one replica)" $replicas) -}}
{{- end -}}
{{- if not (include "flotilla-hub.natsConfigured" .) -}}
{{- fail (printf "replicas: %d needs NATS: set nats.url or nats.urlSecret.name (the in-process bus serves one replica)" $replicas) -}}
{{- end -}}
{{- if not .Values.tls.existingSecret -}}
{{- fail (printf "replicas: %d needs tls.existingSecret: every replica must serve the same certificate, and each would otherwise make its own CA" $replicas) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.enabled needs ingress.host" -}}
{{- end -}}
{{- if and .Values.nats.url .Values.nats.urlSecret.name -}}
{{- fail "set nats.url or nats.urlSecret.name, not both" -}}
{{- end -}}
{{- end -}}
