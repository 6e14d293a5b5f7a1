{{/*
Standard helpers, named as `helm create` names them, so anyone who has read one chart
can read this one.
*/}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "picsource.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated to 63 characters because some Kubernetes name
fields are limited to that (DNS-1123 labels). If the release name already contains the
chart name it is not repeated.
*/}}
{{- define "picsource.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, as used by the helm.sh/chart label. */}}
{{- define "picsource.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels, on every object the chart renders. */}}
{{- define "picsource.labels" -}}
helm.sh/chart: {{ include "picsource.chart" . }}
{{ include "picsource.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: picsource
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: stable across upgrades, so never include versions here. */}}
{{- define "picsource.selectorLabels" -}}
app.kubernetes.io/name: {{ include "picsource.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels and selector labels of one component (operator, mongodb, minio). */}}
{{- define "picsource.componentLabels" -}}
{{ include "picsource.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "picsource.componentSelectorLabels" -}}
{{ include "picsource.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of the operator's ServiceAccount. */}}
{{- define "picsource.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (printf "%s-operator" (include "picsource.fullname" .)) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Object names of the components. */}}
{{- define "picsource.operatorName" -}}
{{- printf "%s-operator" (include "picsource.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "picsource.mongodbName" -}}
{{- printf "%s-mongodb" (include "picsource.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- define "picsource.minioName" -}}
{{- printf "%s-minio" (include "picsource.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{/* The bundled services' application-user Secrets (what a Gallery references; never root). */}}
{{- define "picsource.mongodbAppSecret" -}}
{{- printf "%s-app" (include "picsource.mongodbName" .) }}
{{- end }}
{{- define "picsource.minioAppSecret" -}}
{{- printf "%s-app" (include "picsource.minioName" .) }}
{{- end }}

{{/*
An image reference: repository:tag, the tag defaulting to the chart's appVersion so the
chart and the images it runs are released together.
Call with (dict "image" .Values.operator.image "root" .)
*/}}
{{- define "picsource.image" -}}
{{- printf "%s:%s" .image.repository (toString (default .root.Chart.AppVersion .image.tag)) }}
{{- end }}

{{/* imagePullSecrets block, shared by every pod. */}}
{{- define "picsource.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
A generated credential that stays the same across `helm upgrade`: reuse the value already
stored in the Secret (lookup), else the value given in values, else a random one. Without
the lookup every upgrade would rotate the password and lock the running database out.
`helm template` has no cluster, so there lookup returns nothing and a random value is shown.
Call with (dict "root" . "secret" NAME "key" KEY "value" GIVEN "length" N)
*/}}
{{- define "picsource.stableSecretValue" -}}
{{- if .value }}
{{- .value }}
{{- else }}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret }}
{{- $data := dict }}
{{- if $existing }}{{- $data = (get $existing "data") | default dict }}{{- end }}
{{- if hasKey $data .key }}
{{- index $data .key | b64dec }}
{{- else }}
{{- randAlphaNum (int .length) }}
{{- end }}
{{- end }}
{{- end }}
