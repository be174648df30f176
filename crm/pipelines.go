package crm

import "slices"

// Pipeline is a pipeline of deals or tickets: the stages a record moves through. Every tenant has
// the default pipeline of each of those types, with HubSpot's ids (deals: "default" with the
// stages "appointmentscheduled" to "closedlost"; tickets: "0" with the stages "1" to "4"), so
// that records written by HubSpot's clients keep their pipeline and stage values. Pipelines are
// fixed: there is no endpoint to add or change one.
type Pipeline struct {
	// ID is the pipeline's id, the value of the pipeline property (deals: pipeline; tickets: hs_pipeline).
	ID string
	// Label is the pipeline's name.
	Label string
	// Stages are the pipeline's stages in display order.
	Stages []PipelineStage
}

// PipelineStage is one stage of a Pipeline.
type PipelineStage struct {
	// ID is the stage's id, the value of the stage property (deals: dealstage; tickets: hs_pipeline_stage).
	ID string
	// Label is the stage's name.
	Label string
	// Metadata is HubSpot's stage metadata: a deal stage's probability ("0.2") and isClosed
	// ("true" or "false"); a ticket stage's ticketState ("OPEN" or "CLOSED").
	Metadata map[string]string
}

// PipelineProperties names the two properties through which a record of a pipelined type sits in a
// pipeline: the pipeline's id and the stage's id.
type PipelineProperties struct {
	Pipeline string
	Stage    string
}

var defaultPipelines = map[ObjectType]Pipeline{
	Deals: {ID: "default", Label: "Sales Pipeline", Stages: []PipelineStage{
		dealStage("appointmentscheduled", "Appointment Scheduled", "0.2", false),
		dealStage("qualifiedtobuy", "Qualified To Buy", "0.4", false),
		dealStage("presentationscheduled", "Presentation Scheduled", "0.6", false),
		dealStage("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", false),
		dealStage("contractsent", "Contract Sent", "0.9", false),
		dealStage("closedwon", "Closed Won", "1.0", true),
		dealStage("closedlost", "Closed Lost", "0.0", true),
	}},
	Tickets: {ID: "0", Label: "Support Pipeline", Stages: []PipelineStage{
		ticketStage("1", "New", "OPEN"),
		ticketStage("2", "Waiting on contact", "OPEN"),
		ticketStage("3", "Waiting on us", "OPEN"),
		ticketStage("4", "Closed", "CLOSED"),
	}},
}

var pipelineProperties = map[ObjectType]PipelineProperties{
	Deals:   {Pipeline: "pipeline", Stage: "dealstage"},
	Tickets: {Pipeline: "hs_pipeline", Stage: "hs_pipeline_stage"},
}

func dealStage(id, label, probability string, closed bool) PipelineStage {
	isClosed := "false"
	if closed {
		isClosed = "true"
	}
	return PipelineStage{ID: id, Label: label, Metadata: map[string]string{"probability": probability, "isClosed": isClosed}}
}

func ticketStage(id, label, state string) PipelineStage {
	return PipelineStage{ID: id, Label: label, Metadata: map[string]string{"ticketState": state}}
}

// Pipelines returns the pipelines of object type o (the default one of deals or tickets), and
// false for a type that has no pipelines. The result is a copy.
func Pipelines(o ObjectType) ([]Pipeline, bool) {
	p, ok := defaultPipelines[o]
	if !ok {
		return nil, false
	}
	p.Stages = slices.Clone(p.Stages)
	return []Pipeline{p}, true
}

// PipelinePropertiesOf returns the pipeline and stage properties of object type o, and false for a
// type that has no pipelines.
func PipelinePropertiesOf(o ObjectType) (PipelineProperties, bool) {
	p, ok := pipelineProperties[o]
	return p, ok
}

// pipelineEnum is the enumeration property of a type's pipeline ids.
func pipelineEnum(o ObjectType, name, label string) Property {
	p := defaultPipelines[o]
	return stdEnum(name, label, p.ID, p.Label)
}

// stageEnum is the enumeration property of a type's stage ids, followed by legacy, extra value,
// label pairs that stay accepted.
func stageEnum(o ObjectType, name, label string, legacy ...string) Property {
	var opts []string
	for _, s := range defaultPipelines[o].Stages {
		opts = append(opts, s.ID, s.Label)
	}
	return stdEnum(name, label, append(opts, legacy...)...)
}
