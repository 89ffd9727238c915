{{/* Names and labels. */}}
{{- define "awo.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "awo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: awo
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ include "awo.tag" . | quote }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "gateway"). */}}
{{- define "awo.selector" -}}
app.kubernetes.io/name: awo
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "awo.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "awo.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-secrets" (include "awo.fullname" .)) -}}
{{- end -}}

{{- define "awo.natsName" -}}
{{- printf "%s-nats" (include "awo.fullname" .) -}}
{{- end -}}

{{/* NATS_URL: the external cluster, or every pod of the built-in one. */}}
{{- define "awo.natsURL" -}}
{{- if .Values.nats.external.url -}}
{{- .Values.nats.external.url -}}
{{- else -}}
{{- $name := include "awo.natsName" . -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.nats.replicas) -}}
{{- $urls = append $urls (printf "nats://%s-%d.%s-headless.%s.svc.%s:4222" $name $i $name $.Release.Namespace $.Values.nats.clusterDomain) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}
{{- end -}}

{{/*
GOMEMLIMIT from a memory limit written in Mi or Gi and a percentage, in MiB:
(dict "memory" "512Mi" "percent" 90).
*/}}
{{- define "awo.goMemLimit" -}}
{{- $m := toString .memory -}}
{{- $n := regexFind "^[0-9]+" $m | int -}}
{{- $unit := trimPrefix (toString $n) $m -}}
{{- $mib := 0 -}}
{{- if eq $unit "Mi" -}}{{- $mib = $n -}}
{{- else if eq $unit "Gi" -}}{{- $mib = mul $n 1024 -}}
{{- else -}}{{- fail (printf "memory %q: write it in whole Mi or Gi (e.g. 512Mi, 2Gi)" $m) -}}
{{- end -}}
{{- $p := int .percent -}}
{{- if or (lt $p 5) (gt $p 100) -}}{{- fail (printf "goMemLimitPercent %d: 5 to 100" $p) -}}{{- end -}}
{{- printf "%dMiB" (div (mul $mib $p) 100) -}}
{{- end -}}

{{/* A pod's grace must exceed AWO_SHUTDOWN_GRACE: (dict "root" $ "name" "executor" "grace" 45). */}}
{{- define "awo.checkGrace" -}}
{{- if le (int .grace) (int .root.Values.shutdownGraceSeconds) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be longer than shutdownGraceSeconds (%d): Kubernetes would kill steps that are still handing back their work" .name (int .grace) (int .root.Values.shutdownGraceSeconds)) -}}
{{- end -}}
{{- end -}}

{{- define "awo.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "awo.secretName" .root }}
      key: {{ .key | default .name }}
{{- end -}}

{{/*
An optional secret variable: (dict "root" $ "name" "AWO_WEBHOOK_SECRET" "given" <value>).
From the chart's Secret only when given (it has the key only then); from
existingSecret always, optional: true, since the chart cannot see its keys.
*/}}
{{- define "awo.optionalSecretEnv" -}}
{{- if .root.Values.existingSecret }}
{{- include "awo.secretEnv" . }}
      optional: true
{{- else if .given }}
{{- include "awo.secretEnv" . }}
{{- end }}
{{- end -}}

{{/*
Plain variables set only when given, in name order: a dict of name to value
(a list is joined with commas).
*/}}
{{- define "awo.optionalEnv" -}}
{{- range $name, $value := . }}
{{- if $value }}
- name: {{ $name }}
  value: {{ ternary (join "," $value) (toString $value) (kindIs "slice" $value) | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Requests equal to limits (Guaranteed QoS): a service's resources {cpu, memory, ephemeralStorage}. */}}
{{- define "awo.resources" -}}
{{- $r := dict "cpu" (required "resources.cpu is required" .cpu | toString) "memory" (required "resources.memory is required" .memory | toString) -}}
{{- if .ephemeralStorage -}}{{- $_ := set $r "ephemeral-storage" (toString .ephemeralStorage) -}}{{- end -}}
requests:
  {{- toYaml $r | nindent 2 }}
limits:
  {{- toYaml $r | nindent 2 }}
{{- end -}}

{{/* Soft or hard spreading of one component's pods over nodes. */}}
{{- define "awo.spread" -}}
{{- if .root.Values.spreadAcrossNodes -}}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "awo.selector" . | nindent 14 }}
{{- end }}
{{- end -}}

{{/*
The agents' variables of the gateways and executors (docs/agents.md): codex
configured when enabled, its model, the price table and the default agent.
*/}}
{{- define "awo.agentsEnv" -}}
{{- $a := .Values.agents }}
{{- if $a.codex.enabled }}
- name: CODEX_CLI_PATH
  value: /usr/local/bin/codex
{{- end }}
{{- with include "awo.optionalEnv" (dict "CODEX_MODEL" $a.codex.model "AWO_PRICES" $a.prices "AWO_DEFAULT_AGENT" $a.defaultAgent) | trim }}
{{ . }}
{{- end }}
{{- end -}}
