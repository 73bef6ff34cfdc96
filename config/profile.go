package config

// Profile is one agent profile's keys as a config file writes them: the one
// schema that decoding, merging (keys.go), the effective profile and `config
// show` share. A new key is a field here; how it merges and how a working
// directory's file may change it, when not by being replaced whole and
// freely, is a line of keyRules. A key naming a file carries bottle:"path".
type Profile struct {
	Image         string   `json:"image,omitempty" toml:"image,omitempty"`
	Containerfile string   `json:"containerfile,omitempty" toml:"containerfile,omitempty" bottle:"path"`
	Context       string   `json:"context,omitempty" toml:"context,omitempty" bottle:"path"`
	Command       []string `json:"command" toml:"command"`
	Args          []string `json:"args,omitempty" toml:"args,omitempty"`
	// AlwaysArgs follow the arguments on every launch, even when -- replaces
	// them; {supervise_url} in them becomes the supervise server's URL.
	AlwaysArgs []string `json:"always_args,omitempty" toml:"always_args,omitempty"`
	// ResumeArgs follow them when a kept bottle is resumed.
	ResumeArgs []string `json:"resume_args,omitempty" toml:"resume_args,omitempty"`
	// AutoResume lets the dashboard resume the bottle itself once an image
	// change it approved has been torn down.
	AutoResume bool              `json:"auto_resume,omitempty" toml:"auto_resume,omitempty"`
	Env        map[string]string `json:"env,omitempty" toml:"env,omitempty"`
	// Setup are paths below the person's home (their agent's settings,
	// instructions, commands) copied into the agent's home at a bottle's
	// first start; links and logins never are.
	Setup []string `json:"setup,omitempty" toml:"setup,omitempty"`
	// HomeFiles are files written into the agent's home at every start,
	// by path below it; {supervise_url} in them becomes the supervise
	// server's URL (an agent's settings that register it, for one).
	HomeFiles  map[string]string `json:"home_files,omitempty" toml:"home_files,omitempty"`
	Prompt     string            `json:"prompt,omitempty" toml:"prompt,omitempty"`
	PromptFile string            `json:"prompt_file,omitempty" toml:"prompt_file,omitempty" bottle:"path"`
	Workspace  string            `json:"workspace" toml:"workspace"`
	// Engine is where the bottle runs: podman (the default) or kubernetes
	// (as the user's [kubernetes] table says).
	Engine  string  `json:"engine,omitempty" toml:"engine,omitempty"`
	Runtime string  `json:"runtime" toml:"runtime"`
	Memory  string  `json:"memory,omitempty" toml:"memory,omitempty"`
	CPUs    float64 `json:"cpus,omitempty" toml:"cpus,omitempty"`
	Pids    int64   `json:"pids,omitempty" toml:"pids,omitempty"`
	Egress  []Route `json:"egress,omitempty" toml:"egress,omitempty"`
	// Signin signs the agent in as its person is on the host (an API key,
	// a long-lived token, or the agent's own login), the bottle holding
	// only placeholders.
	Signin *Signin `json:"signin,omitempty" toml:"signin,omitempty"`
	// Inbound is what the proxy does with instructions aimed at the agent
	// in what comes back (InboundModes); a route's own setting wins.
	Inbound string `json:"inbound,omitempty" toml:"inbound,omitempty"`
	// BuildEgress are the routes a build of a Containerfile that is not the
	// user's own (a working directory's, an agent's request) may take,
	// through the bottle's egress proxy; without any, it has no network.
	BuildEgress []Route `json:"build_egress,omitempty" toml:"build_egress,omitempty"`
	Git         *Git    `json:"git,omitempty" toml:"git,omitempty"`
	// Warm is how many bottles of this profile are kept made ahead, their
	// egress running, for bottle start to claim (docs/warm.md); the
	// person's own config alone may set it.
	Warm int `json:"warm,omitempty" toml:"warm,omitempty"`
}

// MaxWarm bounds a profile's warm bottles: each holds a gateway and a
// proxy running (about 23 MiB together) for as long as it waits.
const MaxWarm = 8
