{{- define "platform.name" -}}{{ .Release.Name }}-dagster{{- end -}}

{{- define "platform.labels" -}}
app.kubernetes.io/name: dagster-platform
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "platform.pgHost" -}}
{{- if .Values.postgresql.enabled -}}{{ include "platform.name" . }}-postgresql{{- else -}}{{ required "postgresql.externalHost is required when postgresql.enabled is false" .Values.postgresql.externalHost }}{{- end -}}
{{- end -}}

{{/* Hardened security contexts shared by every platform container. */}}
{{- define "platform.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "platform.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Environment of every pod that loads the instance: the non-secret part
     comes from the <release>-dagster-instance-env ConfigMap (code locations and
     run pods read the same one), the password from its Secret. */}}
{{- define "platform.instanceEnv" -}}
- name: DAGSTER_PG_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.postgresql.passwordSecret.name }}
      key: {{ .Values.postgresql.passwordSecret.key }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}
