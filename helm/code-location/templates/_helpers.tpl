{{- define "location.name" -}}{{ .Release.Name }}-code-location{{- end -}}

{{- define "location.labels" -}}
app.kubernetes.io/name: code-location
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ required "location.name is required" .Values.location.name }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Container context of runs and steps launched from this location
     (DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT, read by the K8sRunLauncher and the
     k8s executor): this location's service account, settings and secrets. */}}
{{- define "location.containerContext" -}}
{{- $cm := list (printf "%s-env" (include "location.name" .)) -}}
{{- dict "k8s" (dict "namespace" .Release.Namespace "service_account_name" (include "location.name" .) "image_pull_policy" .Values.image.pullPolicy "env_config_maps" $cm "env_secrets" .Values.secrets) | toJson -}}
{{- end -}}
