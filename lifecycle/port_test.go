package lifecycle

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bottle-sandbox/bottle/agent"
	"github.com/bottle-sandbox/bottle/sidecars/egress"
	"github.com/bottle-sandbox/bottle/spec"
)

// TestPortAndExecRefuseABottleThatIsNotRunning: bottle port listens for
// nothing, and bottle exec runs nothing, in a bottle that is not running
// (no pod, or a stopped one): they say so up front, in a bottle's terms.
func TestPortAndExecRefuseABottleThatIsNotRunning(t *testing.T) {
	w := buildWorld(t, filepath.Join(t.TempDir(), "w"), false)
	id := w.b.ID
	want := "bottle " + id + " is not running: bottle resume " + id
	stopped := podInfo(id, "Exited", "exited")
	stopped.Containers[egress.Service] = "exited"
	for name, pods := range map[string][]spec.PodInfo{"no pod": nil, "a stopped pod": {stopped}} {
		w.eng.pods = pods
		listened := false
		err := Port(context.Background(), w.env, id, 8080, 0, func(string) { listened = true })
		if err == nil || err.Error() != want || listened {
			t.Errorf("port with %s: listened %v, %v", name, listened, err)
		}
		if _, err := Exec(context.Background(), w.env, id, []string{"true"}, false); err == nil || err.Error() != want {
			t.Errorf("exec with %s: %v", name, err)
		}
	}
	// The pod runs, the agent has ended: exec names the service.
	ended := podInfo(id, "Running", "exited")
	w.eng.pods = []spec.PodInfo{ended}
	if _, err := Exec(context.Background(), w.env, id, []string{"true"}, false); err == nil || !strings.Contains(err.Error(), "bottle "+id+"'s agent service is not running") {
		t.Errorf("exec with the agent ended: %v", err)
	}
}

// TestErrorsSpeakOfBottlesAndServices: an engine's error that names a
// bottle's pod or containers says the bottle and its services instead.
func TestErrorsSpeakOfBottlesAndServices(t *testing.T) {
	const id = "20260101-abcd"
	base := errors.New("exec in " + spec.ContainerName(id, agent.Service) + ": can only create exec sessions on running containers: container state improper; pod " + spec.PodName(id) + " exited; " + spec.ContainerName(id, egress.Service) + " too")
	err := inBottleTerms(id, base)
	want := "exec in bottle " + id + "'s agent service: can only create exec sessions on running containers: container state improper; pod bottle " + id + " exited; bottle " + id + "'s egress service too"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if !errors.Is(err, base) {
		t.Error("the engine's error is no longer in the chain")
	}
	if inBottleTerms(id, nil) != nil {
		t.Error("no error became one")
	}
}
