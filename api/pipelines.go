package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/crmflow/crmflow/crm"
)

// pipelinesEpoch is the createdAt and updatedAt of the built-in pipelines and stages, which never
// change.
var pipelinesEpoch = crm.FormatDatetime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))

// pipelineJSON is a pipeline as HubSpot's pipelines API shows it.
type pipelineJSON struct {
	ID           string      `json:"id"`
	Label        string      `json:"label"`
	DisplayOrder int         `json:"displayOrder"`
	Stages       []stageJSON `json:"stages"`
	Archived     bool        `json:"archived"`
	CreatedAt    string      `json:"createdAt"`
	UpdatedAt    string      `json:"updatedAt"`
}

// stageJSON is one stage of a pipeline.
type stageJSON struct {
	ID               string            `json:"id"`
	Label            string            `json:"label"`
	DisplayOrder     int               `json:"displayOrder"`
	Metadata         map[string]string `json:"metadata"`
	Archived         bool              `json:"archived"`
	WritePermissions string            `json:"writePermissions"`
	CreatedAt        string            `json:"createdAt"`
	UpdatedAt        string            `json:"updatedAt"`
}

func toPipelineJSON(p crm.Pipeline, order int) pipelineJSON {
	out := pipelineJSON{ID: p.ID, Label: p.Label, DisplayOrder: order, Stages: make([]stageJSON, len(p.Stages)),
		CreatedAt: pipelinesEpoch, UpdatedAt: pipelinesEpoch}
	for i, s := range p.Stages {
		out.Stages[i] = stageJSON{ID: s.ID, Label: s.Label, DisplayOrder: i, Metadata: s.Metadata,
			WritePermissions: "CRM_PERMISSIONS_ENFORCEMENT", CreatedAt: pipelinesEpoch, UpdatedAt: pipelinesEpoch}
	}
	return out
}

// pipelines resolves the object type of the path and returns its pipelines; a type without
// pipelines is a 400 naming the types that have them.
func (s *Server) pipelines(r *http.Request, p crm.Principal) ([]crm.Pipeline, error) {
	o, err := s.objectType(r, p.Tenant, "objectType")
	if err != nil {
		return nil, err
	}
	ps, ok := crm.Pipelines(o)
	if !ok {
		return nil, errInvalid("objectType", "NO_PIPELINES",
			"object type %q has no pipelines: only deals and tickets do", r.PathValue("objectType"))
	}
	return ps, nil
}

// pipeline returns the pipeline named in the path, or a 404 naming it.
func (s *Server) pipeline(r *http.Request, p crm.Principal) (pipelineJSON, error) {
	ps, err := s.pipelines(r, p)
	if err != nil {
		return pipelineJSON{}, err
	}
	id := r.PathValue("pipelineId")
	for i, pl := range ps {
		if pl.ID == id {
			return toPipelineJSON(pl, i), nil
		}
	}
	return pipelineJSON{}, errNotFound("pipeline", fmt.Sprintf("%s/%s", r.PathValue("objectType"), id))
}

// listPipelines serves GET /crm/v3/pipelines/{objectType}: the type's pipelines (deals and tickets
// have their default pipeline, with HubSpot's ids).
func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	ps, err := s.pipelines(r, p)
	if err != nil {
		return err
	}
	out := make([]pipelineJSON, len(ps))
	for i, pl := range ps {
		out[i] = toPipelineJSON(pl, i)
	}
	writeJSON(w, http.StatusOK, pageJSON[pipelineJSON]{Results: out})
	return nil
}

// getPipeline serves GET /crm/v3/pipelines/{objectType}/{pipelineId}.
func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	pl, err := s.pipeline(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pl)
	return nil
}

// listPipelineStages serves GET /crm/v3/pipelines/{objectType}/{pipelineId}/stages.
func (s *Server) listPipelineStages(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	pl, err := s.pipeline(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, pageJSON[stageJSON]{Results: pl.Stages})
	return nil
}

// getPipelineStage serves GET /crm/v3/pipelines/{objectType}/{pipelineId}/stages/{stageId}.
func (s *Server) getPipelineStage(w http.ResponseWriter, r *http.Request, p crm.Principal) error {
	pl, err := s.pipeline(r, p)
	if err != nil {
		return err
	}
	id := r.PathValue("stageId")
	for _, st := range pl.Stages {
		if st.ID == id {
			writeJSON(w, http.StatusOK, st)
			return nil
		}
	}
	return errNotFound("pipeline stage", fmt.Sprintf("%s/%s/%s", r.PathValue("objectType"), pl.ID, id))
}
