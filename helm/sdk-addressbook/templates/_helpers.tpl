{{/* Names and labels. */}}
{{- define "sdk.name" -}}{{ .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}

{{- define "sdk.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "sdk.labels" -}}
app.kubernetes.io/name: {{ include "sdk.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component (api, worker, smp-cache, migrations). */}}
{{- define "sdk.selector" -}}
app.kubernetes.io/name: {{ include "sdk.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "sdk.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end -}}

{{- define "sdk.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}{{ default (include "sdk.fullname" .) .Values.serviceAccount.name }}
{{- else -}}{{ default "default" .Values.serviceAccount.name }}{{- end -}}
{{- end -}}

{{/* The chart's own Secret (database URL, TSIG secret, session key, OIDC client secret). */}}
{{- define "sdk.secretName" -}}{{ include "sdk.fullname" . }}{{- end -}}
{{- define "sdk.signingSecretName" -}}{{ default (printf "%s-signing" (include "sdk.fullname" .)) .Values.signing.existingSecret }}{{- end -}}

{{/*
Hook annotations of what the migration Job needs before install: the ConfigMap and Secrets exist
before the pre-install hook runs, and stay (they are not deleted after the hook).
*/}}
{{- define "sdk.earlyHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}

{{/* One secret setting: from an existing Secret, or from the chart's own. */}}
{{- define "sdk.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ default (include "sdk.secretName" .root) .existing }}
      key: {{ if .existing }}{{ .existingKey }}{{ else }}{{ .key }}{{ end }}
{{- end -}}

{{/* The settings every process of the service reads (ConfigMap) plus its secrets (env from Secrets). */}}
{{- define "sdk.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "sdk.fullname" . }}
env:
{{- include "sdk.secretEnv" (dict "root" . "name" "SDK_DATABASE_URL" "key" "database-url" "existing" .Values.database.existingSecret "existingKey" .Values.database.existingSecretKey) | nindent 2 }}
{{- include "sdk.secretEnv" (dict "root" . "name" "SDK_DNS_TSIG_SECRET" "key" "tsig-secret" "existing" .Values.dns.tsig.existingSecret "existingKey" .Values.dns.tsig.existingSecretKey) | nindent 2 }}
{{- include "sdk.secretEnv" (dict "root" . "name" "SDK_SECRET_KEY" "key" "secret-key" "existing" .Values.existingSecretKeySecret "existingKey" "secret-key") | nindent 2 }}
{{- if or .Values.redis.url .Values.redis.existingSecret }}
{{- include "sdk.secretEnv" (dict "root" . "name" "SDK_REDIS_URL" "key" "redis-url" "existing" .Values.redis.existingSecret "existingKey" .Values.redis.existingSecretKey) | nindent 2 }}
{{- end }}
{{- if .Values.oidc.issuer }}
{{- include "sdk.secretEnv" (dict "root" . "name" "SDK_OIDC_CLIENT_SECRET" "key" "oidc-client-secret" "existing" "" "existingKey" "") | nindent 2 }}
{{- end }}
{{- if or .Values.signing.keyPassword .Values.signing.existingSecret }}
  - name: SDK_SIGNING_KEY_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "sdk.signingSecretName" . }}
        key: password
        optional: true
{{- end }}
{{- end -}}

{{/* Non-empty when the trust ConfigMap has a file to mount. */}}
{{- define "sdk.trustFiles" -}}
{{- if or .Values.trust.apCa .Values.trust.smpCa .Values.trust.o2oCa .Values.sml.client.caBundle }}yes{{ end -}}
{{- end -}}

{{- define "sdk.volumes" -}}
- name: signing
  secret:
    secretName: {{ include "sdk.signingSecretName" . }}
    defaultMode: 0440
    items:
      - {key: signing.key, path: signing.key}
      - {key: signing.crt, path: signing.crt}
{{- if include "sdk.trustFiles" . }}
- name: trust
  configMap:
    name: {{ include "sdk.fullname" . }}-trust
{{- end }}
{{- if .Values.sml.client.url }}
- name: sml-client
  secret:
    secretName: {{ .Values.sml.client.existingSecret }}
    defaultMode: 0440
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
- name: instance
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end -}}

{{- define "sdk.volumeMounts" -}}
- {name: signing, mountPath: /etc/sdk-addressbook/signing, readOnly: true}
{{- if include "sdk.trustFiles" . }}
- {name: trust, mountPath: /etc/sdk-addressbook/trust, readOnly: true}
{{- end }}
{{- if .Values.sml.client.url }}
- {name: sml-client, mountPath: /etc/sdk-addressbook/sml-client, readOnly: true}
{{- end }}
- {name: instance, mountPath: /var/lib/sdk-addressbook}
- {name: tmp, mountPath: /tmp}
{{- end -}}

{{/* A checksum of the settings: pods roll when a setting changes. */}}
{{- define "sdk.settingsChecksum" -}}
checksum/settings: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}

{{/* Required values, checked once, with a message that says what to set. */}}
{{- define "sdk.validate" -}}
{{- if not (or .Values.database.url .Values.database.existingSecret) -}}
{{- fail "set database.url (postgresql+psycopg://…) or database.existingSecret" -}}
{{- end -}}
{{- if not .Values.dns.primary -}}{{- fail "set dns.primary (HOST:PORT of the DNS primary that takes RFC 2136 updates)" -}}{{- end -}}
{{- if not (or .Values.dns.tsig.secret .Values.dns.tsig.existingSecret) -}}
{{- fail "set dns.tsig.secret (base64, from tsig-keygen) or dns.tsig.existingSecret" -}}
{{- end -}}
{{- if not (or (and .Values.signing.key .Values.signing.certificate) .Values.signing.existingSecret) -}}
{{- fail "set signing.key and signing.certificate (PEM) or signing.existingSecret" -}}
{{- end -}}
{{- if not (or .Values.secretKey .Values.existingSecretKeySecret) -}}
{{- fail "set secretKey (at least 32 characters, e.g. openssl rand -hex 32) or existingSecretKeySecret" -}}
{{- end -}}
{{- if and .Values.secretKey (lt (len .Values.secretKey) 32) -}}{{- fail "secretKey must be at least 32 characters" -}}{{- end -}}
{{- if and .Values.oidc.issuer (not (and .Values.oidc.clientId .Values.oidc.clientSecret)) -}}
{{- fail "oidc.issuer needs oidc.clientId and oidc.clientSecret" -}}
{{- end -}}
{{- if and .Values.sml.client.url (not (and .Values.sml.client.existingSecret .Values.sml.client.smpId)) -}}
{{- fail "sml.client.url needs sml.client.smpId and sml.client.existingSecret (a Secret with tls.crt and tls.key)" -}}
{{- end -}}
{{- if and .Values.sml.ingress.enabled (not (and .Values.sml.ingress.clientCaSecret .Values.sml.trustedProxies)) -}}
{{- fail "sml.ingress needs sml.ingress.clientCaSecret (NAMESPACE/NAME, with ca.crt) and sml.trustedProxies (the ingress controller's CIDRs)" -}}
{{- end -}}
{{- end -}}

{{/* NetworkPolicy pieces. */}}
{{- define "sdk.egressDns" -}}
# Name lookups through the cluster DNS.
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels: {k8s-app: kube-dns}
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end }}
{{- define "sdk.egressDatabase" -}}
- {{- if .Values.networkPolicy.databaseCidr }}
  to:
    - ipBlock: {cidr: {{ .Values.networkPolicy.databaseCidr | quote }}}
  {{- end }}
  ports:
    - {port: 5432, protocol: TCP}
{{- end }}
{{- define "sdk.egressRedis" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}
- {{- if .Values.redis.cidr }}
  to:
    - ipBlock: {cidr: {{ .Values.redis.cidr | quote }}}
  {{- end }}
  ports:
    - {port: 6379, protocol: TCP}
{{- end }}
{{- end }}
{{- define "sdk.fromNamespace" -}}
- namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: {{ . | quote }}}
{{- end }}
