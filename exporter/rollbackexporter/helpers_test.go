package rollbackexporter

import (
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/otel/attribute"
)

type exporterQueueConfig = exporterhelper.QueueBatchConfig

func attributeKey(k string) attribute.Key { return attribute.Key(k) }
