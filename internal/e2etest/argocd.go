package e2etest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// ArgoCDTemplate parses the otelcol-release webhook body of an Argo CD
// notifications ConfigMap (template.otelcol-release-deploy-event), the
// template the controller renders for every notification.
func ArgoCDTemplate(configMapYAML []byte) (*template.Template, error) {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(configMapYAML, &cm); err != nil {
		return nil, err
	}
	var tmpl struct {
		Webhook map[string]struct {
			Body string `yaml:"body"`
		} `yaml:"webhook"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["template.otelcol-release-deploy-event"]), &tmpl); err != nil {
		return nil, err
	}
	body := tmpl.Webhook["otelcol-release"].Body
	if body == "" {
		return nil, fmt.Errorf("the ConfigMap has no otelcol-release webhook body in template.otelcol-release-deploy-event")
	}
	return template.New("body").Parse(body)
}

// RenderArgoCD renders an Application (JSON) through the template, as the
// notifications controller does.
func RenderArgoCD(tmpl *template.Template, application []byte) ([]byte, error) {
	var app map[string]any
	if err := json.Unmarshal(application, &app); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]any{"app": app, "context": map[string]string{}}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
