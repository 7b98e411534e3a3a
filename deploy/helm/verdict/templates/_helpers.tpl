{{/* Names, labels, the rendered verdict.yaml, the shutdown timings and the checks every render runs. */}}

{{- define "verdict.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name; StatefulSet pods add "-N", so it stays short enough for a 63-character hostname. */}}
{{- define "verdict.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "verdict.selectorLabels" -}}
app.kubernetes.io/name: {{ include "verdict.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "verdict.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "verdict.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: verdict
{{- end -}}

{{- define "verdict.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "verdict.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "verdict.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Whether a door's section is present and not null in config (`mcp: {}` turns the door on, as in verdict.yaml). */}}
{{- define "verdict.doorOn" -}}
{{- $cfg := index . 0 -}}{{- $door := index . 1 -}}
{{- if and (hasKey $cfg $door) (not (kindIs "invalid" (index $cfg $door))) -}}true{{- end -}}
{{- end -}}

{{/* Paths inside the container; the Dockerfile's CMD reads /etc/verdict/verdict.yaml. */}}
{{- define "verdict.paths" -}}
{{- dict "data" "/var/lib/verdict" "secrets" "/etc/verdict/secrets" "tls" "/etc/verdict/tls" "keys" "/etc/verdict/keys" "policy" "/etc/verdict/policy" | toJson -}}
{{- end -}}

{{/*
The verdict.yaml the gateway reads: config from values with the keys the chart manages set from the chart's
own values (listeners, volumes, secret files). Checks run first, so a render never ships a config the chart
cannot honor.
*/}}
{{- define "verdict.config" -}}
{{- include "verdict.validate" . -}}
{{- $p := include "verdict.paths" . | fromJson -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $_ := set $cfg "listen" (dict "postgres" (dict "host" "0.0.0.0" "port" (int .Values.ports.postgres)) "admin" (dict "host" "0.0.0.0" "port" (int .Values.ports.admin))) -}}
{{- if include "verdict.doorOn" (list $cfg "mcp") -}}
{{- $_ := set $cfg "mcp" (merge (dict "host" "0.0.0.0" "port" (int .Values.ports.mcp)) (deepCopy (default dict $cfg.mcp))) -}}
{{- end -}}
{{- if include "verdict.doorOn" (list $cfg "snowflake") -}}
{{- $_ := set $cfg "snowflake" (merge (dict "host" "0.0.0.0" "port" (int .Values.ports.snowflake)) (deepCopy (default dict $cfg.snowflake))) -}}
{{- end -}}
{{- $evidence := deepCopy (default dict $cfg.evidence) -}}
{{- $_ := set $evidence "spool_dir" (printf "%s/evidence/spool" $p.data) -}}
{{- if .Values.secrets.evidenceSigningKey -}}
{{- $_ := set $evidence "signing_key_file" (printf "%s/%s" $p.secrets .Values.secrets.evidenceSigningKey) -}}
{{- end -}}
{{- $publisher := deepCopy (default (dict "kind" "local-git") $evidence.publisher) -}}
{{- if eq (toString $publisher.kind) "local-git" -}}
{{- $_ := set $publisher "repo" (printf "%s/evidence/repo" $p.data) -}}
{{- end -}}
{{- $_ := set $evidence "publisher" $publisher -}}
{{- $_ := set $cfg "evidence" $evidence -}}
{{- $approvals := deepCopy (default dict $cfg.approvals) -}}
{{- $_ := set $approvals "state_dir" (printf "%s/approvals" $p.data) -}}
{{- $_ := set $cfg "approvals" $approvals -}}
{{- $policy := deepCopy (default dict $cfg.policy) -}}
{{- $_ := set $policy "bundle" (printf "%s/%s" $p.policy .Values.policy.bundleKey) -}}
{{- $keys := dict -}}
{{- range $kid, $_pem := .Values.policy.verificationKeys -}}
{{- $_ := set $keys $kid (printf "%s/%s.pem" $p.keys $kid) -}}
{{- end -}}
{{- $_ := set $policy "verification_keys" $keys -}}
{{- $_ := set $cfg "policy" $policy -}}
{{- if .Values.tls.existingSecret -}}
{{- $tls := deepCopy (default dict $cfg.tls) -}}
{{- $_ := set $tls "cert" (printf "%s/tls.crt" $p.tls) -}}
{{- $_ := set $tls "key" (printf "%s/tls.key" $p.tls) -}}
{{- $_ := set $cfg "tls" $tls -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* config.limits.shutdown_grace_ms (the gateway's default: 10000), rounded up to whole seconds. */}}
{{- define "verdict.shutdownGraceSeconds" -}}
{{- $ms := dig "limits" "shutdown_grace_ms" 10000 (.Values.config | default dict) | int64 -}}
{{- div (add $ms 999) 1000 -}}
{{- end -}}

{{/*
The least termination grace period that lets a replica finish: the preStop sleep, the gateway's drain
(shutdown_grace_ms), and sealing and publishing its evidence on close (the writer waits up to 10 s).
*/}}
{{- define "verdict.minTerminationSeconds" -}}
{{- add (int64 .Values.lifecycle.preStopSleepSeconds) (include "verdict.shutdownGraceSeconds" . | int64) 10 -}}
{{- end -}}

{{- define "verdict.terminationGracePeriodSeconds" -}}
{{- $min := include "verdict.minTerminationSeconds" . | int64 -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $min 5 -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds | int64 -}}
{{- end -}}
{{- end -}}

{{/* Checks that no setting silently breaks a replica or a scale-out; each failure says what to change. */}}
{{- define "verdict.validate" -}}
{{- $cfg := .Values.config | default dict -}}
{{- $replicas := int .Values.replicaCount -}}
{{- $approvals := default dict $cfg.approvals -}}
{{- $evidence := default dict $cfg.evidence -}}
{{- $publisher := default (dict "kind" "local-git") $evidence.publisher -}}
{{- $evidenceOn := ne (toString (dig "enabled" true $evidence)) "false" -}}
{{- if and (empty $cfg.upstreams) (empty $cfg.snowflake_upstreams) -}}
{{- fail "config.upstreams (or config.snowflake_upstreams) must name at least one database" -}}
{{- end -}}
{{- $managed := list
  (list (list "listen") "`ports` (every listener on 0.0.0.0)")
  (list (list "mcp" "host") "`ports.mcp` (0.0.0.0)") (list (list "mcp" "port") "`ports.mcp`")
  (list (list "snowflake" "host") "`ports.snowflake` (0.0.0.0)") (list (list "snowflake" "port") "`ports.snowflake`")
  (list (list "tls" "cert") "`tls.existingSecret`") (list (list "tls" "key") "`tls.existingSecret`")
  (list (list "policy" "bundle") "`policy.bundleConfigMap`") (list (list "policy" "verification_keys") "`policy.verificationKeys`")
  (list (list "approvals" "state_dir") "the data volume") (list (list "evidence" "spool_dir") "the data volume")
  (list (list "evidence" "signing_key_file") "`secrets.evidenceSigningKey`") -}}
{{- range $managed -}}
{{- $path := index . 0 -}}
{{- $at := $cfg -}}{{- $found := true -}}
{{- range $path -}}
{{- if and $found (kindIs "map" $at) (hasKey $at .) -}}{{- $at = index $at . -}}{{- else -}}{{- $found = false -}}{{- end -}}
{{- end -}}
{{- if $found -}}
{{- fail (printf "config.%s is set by the chart from %s; remove it from config" (join "." $path) (index . 1)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq (toString $publisher.kind) "local-git") (hasKey $publisher "repo") -}}
{{- fail "config.evidence.publisher.repo (local-git) is set by the chart (on the data volume); remove it from config" -}}
{{- end -}}
{{- if and (not .Values.secrets.existingSecret) (contains "/etc/verdict/secrets/" (toYaml $cfg)) -}}
{{- fail "config refers to files under /etc/verdict/secrets/ but secrets.existingSecret is empty: name the Secret that holds them" -}}
{{- end -}}
{{- if and (not .Values.secrets.existingSecret) (or .Values.secrets.env .Values.secrets.evidenceSigningKey) -}}
{{- fail "secrets.env and secrets.evidenceSigningKey take their values from secrets.existingSecret, which is empty" -}}
{{- end -}}
{{- $envNames := keys (default dict .Values.secrets.env) -}}
{{- range .Values.extraEnv -}}{{- $envNames = append $envNames .name -}}{{- end -}}
{{- range regexFindAll "(?m)^\\s*env: [A-Za-z_][A-Za-z0-9_]*$" (toYaml $cfg) -1 -}}
{{- $name := trim (trimPrefix "env:" (trim .)) -}}
{{- if not (has $name $envNames) -}}
{{- fail (printf "config refers to the environment variable %s ({env: %s}), which neither secrets.env nor extraEnv sets" $name $name) -}}
{{- end -}}
{{- end -}}
{{- if hasKey $evidence "instance" -}}
{{- fail "config.evidence.instance must not be set: the chart names each replica's evidence chain after its pod (verdict-0, verdict-1, …); one fixed name would make every replica write the same chain" -}}
{{- end -}}
{{- if and (not .Values.persistence.enabled) $evidenceOn -}}
{{- fail "persistence.enabled: false keeps the evidence spool on an emptyDir, lost with the pod along with unpublished batches; enable persistence or set config.evidence.enabled: false" -}}
{{- end -}}
{{- $termination := include "verdict.terminationGracePeriodSeconds" . | int64 -}}
{{- $min := include "verdict.minTerminationSeconds" . | int64 -}}
{{- if le $termination $min -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above preStop (%d s) + config.limits.shutdown_grace_ms (%d s) + evidence publishing (10 s) = %d" $termination (int64 .Values.lifecycle.preStopSleepSeconds) (include "verdict.shutdownGraceSeconds" . | int64) $min) -}}
{{- end -}}
{{- if .Values.webhookIngress.enabled -}}
{{- if not (dig "github" "webhook_secret" "" $approvals) -}}
{{- fail "webhookIngress.enabled needs config.approvals.provider: github with approvals.github.webhook_secret: the gateway serves POST /github/webhook only then" -}}
{{- end -}}
{{- end -}}
{{- if gt $replicas 1 -}}
{{- if ne (toString (default "local" $approvals.provider)) "github" -}}
{{- fail (printf "replicaCount %d needs config.approvals.provider: github: local approvals are files in one replica's volume, so a client held on another replica would never be released" $replicas) -}}
{{- end -}}
{{- if not (dig "hash_key" "" (default dict $cfg.masking)) -}}
{{- fail (printf "replicaCount %d needs config.masking.hash_key (e.g. {file: /etc/verdict/secrets/masking-hash-key}): without it each replica hashes with its own random key and the same value masks differently per replica" $replicas) -}}
{{- end -}}
{{- if and $evidenceOn (eq (toString $publisher.kind) "local-git") -}}
{{- fail (printf "replicaCount %d needs config.evidence.publisher.kind: github (or none): a local-git evidence repository on each replica's volume would be %d separate repositories" $replicas $replicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}
