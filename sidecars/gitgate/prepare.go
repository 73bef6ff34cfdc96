package gitgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bottle-sandbox/bottle/config"
	"github.com/bottle-sandbox/bottle/internal/beneath"
	"github.com/bottle-sandbox/bottle/internal/netrange"
	"github.com/bottle-sandbox/bottle/internal/workspace"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Plan is the gate as prepared on the host: what the launcher mounts, tells
// the gateway and shows in the preflight.
type Plan struct {
	Config *Config
	// HostObjects are the host repository object folders the mirrors borrow.
	HostObjects []string
	// Destinations are host:port pairs the gateway lets the gate reach;
	// Named those of them a url in the person's own config names, which
	// alone may reach this machine or its network (a remote only the
	// repository names may not: the repository may be anyone's).
	Destinations []string
	Named        []string
	// Notes say, per remote, what the preflight should warn about.
	Notes map[string]string
	// Hosts and Credentials say, per forwarded remote, where its pushes go
	// (host:port) and which of the user's credentials goes with them (its
	// source, never its value), for the preflight.
	Hosts       map[string]string
	Credentials map[string]string

	host    *git.Repository   // the workspace repository, nil when there is none
	secrets map[string][]byte // file name in SecretDir -> content
}

// remotes lists the remotes the gate serves: the profile's declared ones
// plus the workspace repository's own as recorded at the bottle's first
// start (ws, nil when there is no repository), with the URLs the repository
// names for each.
func remotes(ws *workspace.Record, g *config.Git) (map[string]config.GitRemote, map[string][]string) {
	declared := map[string]config.GitRemote{}
	if g != nil {
		maps.Copy(declared, g.Remotes)
	}
	own := map[string][]string{}
	if ws == nil {
		return declared, own
	}
	for name, urls := range ws.Remotes {
		own[name] = slices.Clone(urls)
		if _, ok := declared[name]; !ok {
			declared[name] = config.GitRemote{}
		}
	}
	return declared, own
}

// NewPlan works out the gate for a bottle without writing anything: the
// remotes (the profile's, and the repository's own as recorded at the
// bottle's first start: never what the agent may have written since), their
// upstreams, modes and rules, and the credentials, read here on the host. It
// returns nil when there is no remote to serve.
func NewPlan(ctx context.Context, identity string, ws *workspace.Record, g *config.Git) (*Plan, error) {
	if !g.GateEnabled() {
		return nil, nil
	}
	if ws != nil && ws.Git == workspace.GitNone {
		ws = nil
	}
	p := &Plan{Config: &Config{Identity: identity}, Notes: map[string]string{}, Hosts: map[string]string{}, Credentials: map[string]string{}, secrets: map[string][]byte{}}
	if ws != nil {
		var err error
		if p.host, err = openHost(ws); err != nil {
			return nil, fmt.Errorf("open the workspace repository: %w", err)
		}
		p.HostObjects = slices.Clone(ws.Objects)
	}
	declared, own := remotes(ws, g)
	if len(declared) == 0 {
		return nil, nil
	}
	for _, name := range slices.Sorted(maps.Keys(declared)) {
		rc := declared[name].WithDefaults()
		r := Remote{Name: name, Mode: rc.Mode, Upstream: rc.URL, AgentURLs: slices.Clone(own[name]),
			Rules: Rules{Branches: rc.Branches, Protected: rc.Protected, Tags: rc.Tags, MaxPush: rc.MaxPushBytes, MaxBinary: rc.MaxBinaryBytes}}
		if r.Upstream == "" && len(own[name]) > 0 {
			r.Upstream = own[name][0]
		}
		if rc.URL != "" && !slices.Contains(r.AgentURLs, rc.URL) {
			r.AgentURLs = append(r.AgentURLs, rc.URL)
		}
		bad := func(msg string, args ...any) error {
			return fmt.Errorf("git remote %s: %s", name, fmt.Sprintf(msg, args...))
		}
		scheme := config.URLScheme(r.Upstream)
		switch {
		case r.Upstream == "":
			return nil, bad("no url: the workspace repository has no remote %q; set url", name)
		case scheme == "file" && r.Mode == config.GitForward:
			// A local path is out of the bottle's reach: pushes wait in the gate.
			r.Mode = config.GitHold
			p.Notes[name] = "a local path: pushes are held"
		case scheme == "":
			return nil, bad("cannot use url %q", r.Upstream)
		}
		if err := p.resolveCredentials(ctx, &r, rc, declared[name].URL != ""); err != nil {
			return nil, bad("%v", err)
		}
		if r.Mode == config.GitForward {
			ep, err := transport.NewEndpoint(r.Upstream)
			if err != nil {
				return nil, bad("url %q: %v", r.Upstream, err)
			}
			port := ep.Port
			if port == 0 {
				port = map[string]int{"ssh": 22, "https": 443, "http": 80}[ep.Protocol]
			}
			dest := net.JoinHostPort(ep.Host, fmt.Sprint(port))
			p.Destinations = append(p.Destinations, dest)
			p.Hosts[name] = dest
			if rc.URL != "" {
				p.Named = append(p.Named, dest)
			} else if why, local := netrange.Local(ep.Host); local {
				p.note(name, "reaches this machine or its network ("+why+"): the gateway refuses it unless your config names this remote's url")
			}
		}
		p.Config.Remotes = append(p.Config.Remotes, r)
	}
	return p, nil
}

// Write makes the gate's folder: its configuration, the credentials it alone
// holds, the bottle's injected secrets (pushes carrying one are refused), and
// a mirror per remote seeded from the host repository. A kept mirror
// (resume) is left as it is: it may hold pushes.
func (p *Plan) Write(dir beneath.Dir, ws *workspace.Record, injected []string) error {
	for _, d := range []string{".", MirrorDir} {
		if err := dir.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("prepare git gate: %w", err)
		}
	}
	if err := dir.MkdirAll(SecretDir, 0o700); err != nil {
		return fmt.Errorf("prepare git gate: %w", err)
	}
	if err := dir.RemoveAll(ReadyFile); err != nil {
		return fmt.Errorf("prepare git gate: %w", err)
	}
	for name, data := range p.secrets {
		if err := dir.WriteFile(SecretDir+"/"+name, data, 0o600); err != nil {
			return err
		}
	}
	for name, data := range p.secrets {
		if strings.HasSuffix(name, ".token") {
			injected = append(injected, string(data))
		}
	}
	data, err := json.Marshal(injected)
	if err != nil {
		return err
	}
	if err := dir.WriteFile(SecretDir+"/"+injectedFile, data, 0o600); err != nil {
		return err
	}
	for _, r := range p.Config.Remotes {
		rel := mirrorRel(r.Name)
		if _, err := dir.Lstat(rel); errors.Is(err, fs.ErrNotExist) {
			if ws != nil && ws.Git == workspace.GitNone {
				ws = nil
			}
			mirror, err := dir.Join(rel)
			if err != nil {
				return err
			}
			if err := seedMirror(mirror, p.host, ws, r.Name); err != nil {
				dir.RemoveAll(rel)
				return fmt.Errorf("git remote %s: %w", r.Name, err)
			}
		} else if err != nil {
			return fmt.Errorf("git remote %s: %w", r.Name, err)
		}
	}
	return writeConfig(dir, p.Config)
}

// resolveCredentials reads a remote's credentials for the gate's secret
// folder. Explicitly configured ones must exist; for a remote only the
// repository names, the user's default SSH key and known_hosts are used when
// present, and their absence noted.
func (p *Plan) resolveCredentials(ctx context.Context, r *Remote, rc config.GitRemote, declared bool) error {
	if r.Mode != config.GitForward {
		return nil
	}
	home, _ := os.UserHomeDir()
	expand := func(f string) string {
		if rest, ok := strings.CutPrefix(f, "~/"); ok {
			return filepath.Join(home, rest)
		}
		return f
	}
	copySecret := func(src, name string) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		p.secrets[name] = data
		return nil
	}
	switch config.URLScheme(r.Upstream) {
	case "ssh":
		key := expand(rc.SSHKey)
		if key == "" {
			for _, k := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
				if f := filepath.Join(home, ".ssh", k); fileExists(f) {
					key = f
					break
				}
			}
		}
		if key != "" {
			if err := copySecret(key, r.Name+".key"); err != nil {
				return fmt.Errorf("ssh_key: %w", err)
			}
			p.Credentials[r.Name] = "SSH key " + key
			r.SSHKey = r.Name + ".key"
		} else {
			p.Notes[r.Name] = "no SSH key found: fetch and push will fail"
		}
		kh := expand(rc.KnownHosts)
		if kh == "" {
			kh = filepath.Join(home, ".ssh", "known_hosts")
			if !fileExists(kh) {
				kh = ""
				p.Notes[r.Name] = "no ~/.ssh/known_hosts: the upstream's host key cannot be checked, fetch and push will fail"
			}
		}
		if kh != "" {
			if err := copySecret(kh, r.Name+".known_hosts"); err != nil {
				return fmt.Errorf("known_hosts: %w", err)
			}
			r.KnownHosts = r.Name + ".known_hosts"
		}
	case "https", "http":
		var tok string
		switch {
		case rc.TokenEnv != "":
			if tok = os.Getenv(rc.TokenEnv); tok == "" {
				return fmt.Errorf("token_env: %s is not set on the host", rc.TokenEnv)
			}
		case rc.TokenFile != "":
			data, err := os.ReadFile(expand(rc.TokenFile))
			if err != nil {
				return fmt.Errorf("token_file: %w", err)
			}
			tok = strings.TrimSpace(string(data))
		}
		user := rc.Username
		source := "token from " + rc.TokenFile
		if rc.TokenEnv != "" {
			source = "token from $" + rc.TokenEnv
		}
		if tok == "" && declared {
			source = "your git credential helper's password"
			// The user's own git may hold one for this exact URL (a
			// credential helper). Only for a URL the user declared: a
			// repository's own remote URL is not trusted with a credential.
			user, tok = credentialFill(ctx, r.Upstream)
		}
		if tok != "" {
			p.secrets[r.Name+".token"] = []byte(tok)
			r.Token, r.Username = r.Name+".token", user
			p.Credentials[r.Name] = source
			if r.Username == "" {
				r.Username = "x-access-token"
			}
		} else if declared {
			p.Notes[r.Name] = "no token: pushes go upstream unauthenticated"
		}
		if rc.CAFile != "" {
			if err := copySecret(expand(rc.CAFile), r.Name+"-ca.pem"); err != nil {
				return fmt.Errorf("ca_file: %w", err)
			}
			r.CA = r.Name + "-ca.pem"
		}
	}
	return nil
}

// credentialFill asks the host's git for the credential of rawURL, as git
// itself would before a push (git credential fill), never prompting.
func credentialFill(ctx context.Context, rawURL string) (user, password string) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Run outside any repository: a working directory's own config (which
	// a cloned repository or an agent may have written) names no helper.
	neutral, err := os.MkdirTemp("", "bottle-credential-")
	if err != nil {
		return "", ""
	}
	defer os.Remove(neutral)
	cmd := exec.CommandContext(ctx, "git", "credential", "fill")
	cmd.Dir = neutral
	cmd.Stdin = strings.NewReader(fmt.Sprintf("protocol=%s\nhost=%s\npath=%s\n\n", u.Scheme, u.Host, strings.TrimPrefix(u.Path, "/")))
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GCM_INTERACTIVE=never", "GIT_ASKPASS=", "SSH_ASKPASS=",
		"GIT_CEILING_DIRECTORIES="+filepath.Dir(neutral))
	out, err := cmd.Output()
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(out), "\n") {
		switch k, v, _ := strings.Cut(line, "="); k {
		case "username":
			user = v
		case "password":
			password = v
		}
	}
	return user, password
}

func fileExists(f string) bool {
	_, err := os.Stat(f)
	return err == nil
}

// note adds a warning about a remote, for the preflight.
func (p *Plan) note(name, s string) {
	if old := p.Notes[name]; old != "" {
		s = old + "; " + s
	}
	p.Notes[name] = s
}
