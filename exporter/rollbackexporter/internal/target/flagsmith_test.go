package target

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-release/otelcol-release/internal/release"
)

const flagsmithStates = `{"count":2,"next":null,"previous":null,"results":[
 {"id":99,"feature":12,"enabled":true,"identity":"41","feature_segment":null},
 {"id":4711,"feature":12,"enabled":true,"identity":null,"feature_segment":null}]}`

func flagsmithTarget(t *testing.T, url string) Target {
	return flagTarget(t, "flagsmith", func(c *FlagsmithConfig) {
		c.Endpoint, c.APIKey, c.EnvironmentKey = url, "org-key", "env-{deployment.environment.name}"
	})
}

func TestFlagsmithLooksTheStateUpAndTurnsItOff(t *testing.T) {
	s := newServer(t, 200, flagsmithStates, 200, `{"id":4711,"enabled":false}`)
	summary, err := flagsmithTarget(t, s.URL).Act(context.Background(), testEnv(false), flagOffAction())
	require.NoError(t, err)
	assert.Equal(t, "turned off new-pricing (feature state 4711) in Flagsmith environment env-production", summary)
	got := s.got()
	require.Len(t, got, 2)
	assert.Equal(t, "GET", got[0].Method)
	assert.Equal(t, "/api/v1/environments/env-production/featurestates/", got[0].Path)
	assert.Equal(t, "feature_name=new-pricing", got[0].Query)
	assert.Equal(t, "Api-Key org-key", got[0].Header.Get("Authorization"))
	assert.Empty(t, got[0].Body)

	assert.Equal(t, "PATCH", got[1].Method)
	assert.Equal(t, "/api/v1/environments/env-production/featurestates/4711/", got[1].Path, "the environment's own state, not the identity override")
	assert.Equal(t, "Api-Key org-key", got[1].Header.Get("Authorization"))
	assert.Equal(t, "application/json", got[1].Header.Get("Content-Type"))
	assert.Equal(t, `{"enabled":false}`, string(got[1].Body))
}

func TestFlagsmithAnswers(t *testing.T) {
	f, _ := Lookup("flagsmith")
	assert.Equal(t, []release.Action{release.ActionFlagOff}, f.Actions)
	assert.Equal(t, "https://api.flagsmith.com", f.NewConfig().(*FlagsmithConfig).Endpoint)
	assert.EqualError(t, f.NewConfig().(*FlagsmithConfig).Validate(), "api_key: required")

	// A plain list (pagination off) works too.
	s := newServer(t, 200, `[{"id":5,"enabled":true}]`, 200, `{}`)
	_, err := flagsmithTarget(t, s.URL).Act(context.Background(), testEnv(false), flagOffAction())
	require.NoError(t, err)
	assert.Equal(t, "/api/v1/environments/env-production/featurestates/5/", s.got()[1].Path)

	// No state for the flag: permanent, naming it, nothing patched.
	s = newServer(t, 200, `{"count":0,"results":[]}`)
	_, err = flagsmithTarget(t, s.URL).Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "flag new-pricing")
	assert.Len(t, s.got(), 1)

	// A refused key: permanent, quoting Flagsmith.
	s = newServer(t, 401, `{"detail":"Invalid API key"}`)
	_, err = flagsmithTarget(t, s.URL).Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "Invalid API key")

	// The PATCH fails with a server error: transient.
	s = newServer(t, 200, flagsmithStates, 502, `bad gateway`)
	_, err = flagsmithTarget(t, s.URL).Act(context.Background(), testEnv(false), flagOffAction())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrPermanent))
	assert.Contains(t, err.Error(), "bad gateway")
}

func TestFlagsmithDryRunLooksUpButDoesNotPatch(t *testing.T) {
	s := newServer(t, 200, flagsmithStates)
	rec := &Recorder{}
	_, err := flagsmithTarget(t, s.URL).Act(WithRecorder(context.Background(), rec), testEnv(true), flagOffAction())
	require.NoError(t, err)
	got := s.got()
	require.Len(t, got, 1, "only the lookup was sent")
	assert.Equal(t, "GET", got[0].Method)
	require.Len(t, rec.Requests, 2)
	assert.Equal(t, 200, rec.Requests[0].Status)
	assert.Equal(t, release.RecordedRequest{Method: "PATCH", URL: s.URL + "/api/v1/environments/env-production/featurestates/4711/",
		Headers: map[string]string{"Authorization": "<redacted>", "Content-Type": "application/json"}, Body: `{"enabled":false}`}, rec.Requests[1])
}
