package engines

import (
	"context"
	"fmt"

	"github.com/bottle-sandbox/bottle/pod"
)

// PodmanService is what bottle version says of the Podman service a
// bottle would use.
type PodmanService struct {
	Version    string `json:"version"`
	APIVersion string `json:"api_version"`
	URI        string `json:"uri"`
	Rootless   bool   `json:"rootless"`
	// Private is a service bottle started for this command, as it would for
	// a bottle, since none was running.
	Private bool `json:"private"`
}

// PodmanVersion asks the Podman service a bottle would use, starting a
// private one as bottle start does when none answers.
func PodmanVersion(ctx context.Context) (*PodmanService, error) {
	conn, err := pod.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("podman service: %w", err)
	}
	defer conn.Close()
	v, api, err := conn.ServiceVersion(ctx)
	if err != nil {
		return nil, err
	}
	return &PodmanService{Version: v, APIVersion: api, URI: conn.URI, Rootless: conn.Info().Rootless, Private: conn.Private()}, nil
}
