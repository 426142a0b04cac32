//! The provider catalog of the `aws` kind: for each CodePipeline provider that AWS owns, its
//! category, configuration keys (required or optional, and what values they take), artifact
//! counts and output variables. One table read by the checker (diagnostics), the CodePipeline
//! exporter (the native action) and the runtime (whether a provider runs locally).
//!
//! Pure data, from CodePipeline's action structure reference (docs/aws.md is its table for
//! users). Limits: the catalog may lag AWS; a provider it does not know is a warning, and
//! `ThirdParty`/`Custom` providers are not checked at all. Conditional requirements that depend
//! on one other key (`ChangeSetName` in change-set modes) are [`Key::required_when`].

use super::Category;

/// What a configuration value may be. Every value is a string in CodePipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// Any text.
    Text,
    /// `true` or `false`.
    Bool,
    /// A decimal integer.
    Int,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list of these words (CloudFormation's `Capabilities`).
    ListOf(&'static [&'static str]),
    /// A JSON document (`ParameterOverrides`, `EnvironmentVariables`).
    Json,
    /// `ARTIFACT::PATH` (CloudFormation's `TemplatePath`).
    ArtifactPath,
}

/// One configuration key of a provider.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub name: &'static str,
    pub required: bool,
    /// Required when the other key has one of these values (`(ActionMode, [..])`).
    pub required_when: Option<(&'static str, &'static [&'static str])>,
    pub value: Value,
}

/// The output variables a provider produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variables {
    None,
    /// These names exactly.
    Fixed(&'static [&'static str]),
    /// Names the action decides (stack outputs, exported variables, a function's result).
    Any,
}

/// How `pipec run` executes a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    /// Runs on this machine through the `aws` CLI (or, for CodeBuild, the buildspec's phases).
    Runs,
    /// Refused before the run starts; the text says what to use instead.
    Refused(&'static str),
}

/// A provider of the catalog.
#[derive(Clone, Copy, Debug)]
pub struct Provider {
    pub name: &'static str,
    /// The categories it may have; the first is the default.
    pub categories: &'static [Category],
    pub keys: &'static [Key],
    /// Input artifacts: at least, at most.
    pub inputs: (usize, usize),
    /// Output artifacts: at least, at most.
    pub outputs: (usize, usize),
    pub variables: Variables,
    pub local: Local,
}

impl Provider {
    pub fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.name == name)
    }
}

const fn req(name: &'static str, value: Value) -> Key {
    Key {
        name,
        required: true,
        required_when: None,
        value,
    }
}

const fn opt(name: &'static str, value: Value) -> Key {
    Key {
        name,
        required: false,
        required_when: None,
        value,
    }
}

const fn when(
    name: &'static str,
    value: Value,
    key: &'static str,
    values: &'static [&'static str],
) -> Key {
    Key {
        name,
        required: false,
        required_when: Some((key, values)),
        value,
    }
}

use Value::{ArtifactPath, Bool, Int, Json, ListOf, OneOf, Text};

/// CloudFormation's action modes.
pub const CFN_MODES: &[&str] = &[
    "CHANGE_SET_EXECUTE",
    "CHANGE_SET_REPLACE",
    "CREATE_UPDATE",
    "DELETE_ONLY",
    "REPLACE_ON_FAILURE",
];
const CAPABILITIES: &[&str] = &[
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];
const ARTIFACT_FORMATS: &[&str] = &["CODE_ZIP", "CODEBUILD_CLONE_REF"];
const GIT_VARIABLES: &[&str] = &[
    "AuthorDate",
    "BranchName",
    "CommitId",
    "CommitMessage",
    "CommitterDate",
    "RepositoryName",
];
const SOURCE_LOCALLY: &str =
    "a source provider reads from AWS or a Git host; locally use a `git` or `dir` action";

/// The catalog, by category. S3 is there twice: a source and a deploy provider.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "CodeStarSourceConnection",
        categories: &[Category::Source],
        keys: &[
            req("ConnectionArn", Text),
            req("FullRepositoryId", Text),
            req("BranchName", Text),
            opt("OutputArtifactFormat", OneOf(ARTIFACT_FORMATS)),
            opt("DetectChanges", Bool),
        ],
        inputs: (0, 0),
        outputs: (1, 1),
        variables: Variables::Fixed(&[
            "AuthorDate",
            "BranchName",
            "CommitId",
            "CommitMessage",
            "ConnectionArn",
            "FullRepositoryName",
        ]),
        local: Local::Refused(SOURCE_LOCALLY),
    },
    Provider {
        name: "CodeCommit",
        categories: &[Category::Source],
        keys: &[
            req("RepositoryName", Text),
            req("BranchName", Text),
            opt("PollForSourceChanges", Bool),
            opt("OutputArtifactFormat", OneOf(ARTIFACT_FORMATS)),
        ],
        inputs: (0, 0),
        outputs: (1, 1),
        variables: Variables::Fixed(GIT_VARIABLES),
        local: Local::Refused(SOURCE_LOCALLY),
    },
    Provider {
        name: "ECR",
        categories: &[Category::Source],
        keys: &[req("RepositoryName", Text), opt("ImageTag", Text)],
        inputs: (0, 0),
        outputs: (1, 1),
        variables: Variables::Fixed(&[
            "ImageDigest",
            "ImageTag",
            "ImageURI",
            "RegistryId",
            "RepositoryName",
        ]),
        local: Local::Refused(SOURCE_LOCALLY),
    },
    Provider {
        name: "S3",
        categories: &[Category::Source],
        keys: &[
            req("S3Bucket", Text),
            req("S3ObjectKey", Text),
            opt("PollForSourceChanges", Bool),
            opt("AllowOverrideForS3ObjectKey", Bool),
        ],
        inputs: (0, 0),
        outputs: (1, 1),
        variables: Variables::Fixed(&["ETag", "VersionId"]),
        local: Local::Refused(SOURCE_LOCALLY),
    },
    Provider {
        name: "CodeBuild",
        categories: &[Category::Build, Category::Test],
        keys: &[
            req("ProjectName", Text),
            opt("PrimarySource", Text),
            opt("BatchEnabled", Bool),
            opt("CombineArtifacts", Bool),
            opt("EnvironmentVariables", Json),
        ],
        inputs: (1, 5),
        outputs: (0, 5),
        variables: Variables::Any,
        local: Local::Runs,
    },
    Provider {
        name: "ECRBuildAndPublish",
        categories: &[Category::Build],
        keys: &[
            req("ECRRepositoryName", Text),
            opt("DockerFilePath", Text),
            opt("ImageTags", Text),
            opt("RegistryType", OneOf(&["private", "public"])),
        ],
        inputs: (1, 1),
        outputs: (0, 0),
        variables: Variables::Fixed(&["ECRImageDigestId", "ECRRepository"]),
        local: Local::Refused(
            "it builds in CodeBuild's managed image; use a `sh` action with `docker build` locally",
        ),
    },
    Provider {
        name: "CloudFormation",
        categories: &[Category::Deploy],
        keys: &[
            req("ActionMode", OneOf(CFN_MODES)),
            req("StackName", Text),
            when(
                "ChangeSetName",
                Text,
                "ActionMode",
                &["CHANGE_SET_REPLACE", "CHANGE_SET_EXECUTE"],
            ),
            when(
                "TemplatePath",
                ArtifactPath,
                "ActionMode",
                &["CREATE_UPDATE", "REPLACE_ON_FAILURE", "CHANGE_SET_REPLACE"],
            ),
            opt("TemplateConfiguration", ArtifactPath),
            opt("Capabilities", ListOf(CAPABILITIES)),
            opt("ParameterOverrides", Json),
            opt("RoleArn", Text),
            opt("OutputFileName", Text),
        ],
        inputs: (0, 10),
        outputs: (0, 1),
        variables: Variables::Any,
        local: Local::Runs,
    },
    Provider {
        name: "CloudFormationStackSet",
        categories: &[Category::Deploy],
        keys: &[
            req("StackSetName", Text),
            req("TemplatePath", ArtifactPath),
            req("DeploymentTargets", Text),
            opt("Description", Text),
            opt("Parameters", Text),
            opt("Capabilities", ListOf(CAPABILITIES)),
            opt(
                "PermissionModel",
                OneOf(&["SELF_MANAGED", "SERVICE_MANAGED"]),
            ),
            opt("AdministrationRoleArn", Text),
            opt("ExecutionRoleName", Text),
            opt(
                "OrganizationsAutoDeployment",
                OneOf(&["Enabled", "Disabled", "EnabledWithStackRetention"]),
            ),
            opt("Regions", Text),
            opt("FailureTolerancePercentage", Int),
            opt("FailureToleranceCount", Int),
            opt("MaxConcurrentPercentage", Int),
            opt("MaxConcurrentCount", Int),
            opt(
                "ConcurrencyMode",
                OneOf(&["STRICT_FAILURE_TOLERANCE", "SOFT_FAILURE_TOLERANCE"]),
            ),
        ],
        inputs: (1, 10),
        outputs: (0, 0),
        variables: Variables::None,
        local: Local::Refused(
            "stack sets deploy across accounts and regions; run it from CodePipeline",
        ),
    },
    Provider {
        name: "CodeDeploy",
        categories: &[Category::Deploy],
        keys: &[
            req("ApplicationName", Text),
            req("DeploymentGroupName", Text),
        ],
        inputs: (1, 1),
        outputs: (0, 0),
        variables: Variables::None,
        local: Local::Runs,
    },
    Provider {
        name: "CodeDeployToECS",
        categories: &[Category::Deploy],
        keys: &[
            req("ApplicationName", Text),
            req("DeploymentGroupName", Text),
            req("TaskDefinitionTemplateArtifact", Text),
            req("AppSpecTemplateArtifact", Text),
            opt("TaskDefinitionTemplatePath", Text),
            opt("AppSpecTemplatePath", Text),
            opt("Image1ArtifactName", Text),
            opt("Image1ContainerName", Text),
            opt("Image2ArtifactName", Text),
            opt("Image2ContainerName", Text),
            opt("Image3ArtifactName", Text),
            opt("Image3ContainerName", Text),
            opt("Image4ArtifactName", Text),
            opt("Image4ContainerName", Text),
        ],
        inputs: (1, 5),
        outputs: (0, 0),
        variables: Variables::None,
        local: Local::Refused(
            "a blue/green deployment rewrites the task definition and AppSpec in CodePipeline; run it from CodePipeline",
        ),
    },
    Provider {
        name: "ECS",
        categories: &[Category::Deploy],
        keys: &[
            req("ClusterName", Text),
            req("ServiceName", Text),
            opt("FileName", Text),
            opt("DeploymentTimeout", Int),
        ],
        inputs: (1, 1),
        outputs: (0, 0),
        variables: Variables::None,
        local: Local::Runs,
    },
    Provider {
        name: "ElasticBeanstalk",
        categories: &[Category::Deploy],
        keys: &[req("ApplicationName", Text), req("EnvironmentName", Text)],
        inputs: (1, 1),
        outputs: (0, 0),
        variables: Variables::None,
        local: Local::Runs,
    },
    Provider {
        name: "S3",
        categories: &[Category::Deploy],
        keys: &[
            req("BucketName", Text),
            req("Extract", Bool),
            when("ObjectKey", Text, "Extract", &["false"]),
            opt("KMSEncryptionKeyARN", Text),
            opt(
                "CannedACL",
                OneOf(&[
                    "private",
                    "public-read",
                    "public-read-write",
                    "authenticated-read",
                    "aws-exec-read",
                    "bucket-owner-read",
                    "bucket-owner-full-control",
                ]),
            ),
            opt("CacheControl", Text),
        ],
        inputs: (1, 1),
        outputs: (0, 0),
        variables: Variables::None,
        local: Local::Runs,
    },
    Provider {
        name: "Lambda",
        categories: &[Category::Invoke],
        keys: &[req("FunctionName", Text), opt("UserParameters", Text)],
        inputs: (0, 5),
        outputs: (0, 5),
        variables: Variables::Any,
        local: Local::Runs,
    },
    Provider {
        name: "StepFunctions",
        categories: &[Category::Invoke],
        keys: &[
            req("StateMachineArn", Text),
            opt("ExecutionNamePrefix", Text),
            opt("InputType", OneOf(&["Literal", "FilePath"])),
            opt("Input", Text),
        ],
        inputs: (0, 1),
        outputs: (0, 1),
        variables: Variables::Fixed(&["ExecutionArn", "StateMachineArn"]),
        local: Local::Runs,
    },
];

/// The provider of this name, if the catalog knows it: the entry of `category` when the
/// provider has one per category (S3 is a source and a deploy provider), else its first.
pub fn provider(name: &str, category: Option<Category>) -> Option<&'static Provider> {
    let mut named = PROVIDERS.iter().filter(|p| p.name == name).peekable();
    let first = *named.peek()?;
    Some(
        named
            .find(|p| category.is_some_and(|c| p.categories.contains(&c)))
            .unwrap_or(first),
    )
}

/// The category of a provider when the caller did not say (`None` for an unknown one).
pub fn default_category(name: &str) -> Option<Category> {
    provider(name, None).and_then(|p| p.categories.first().copied())
}

/// The owners CodePipeline knows.
pub const OWNERS: &[&str] = &["AWS", "ThirdParty", "Custom"];

/// Whether `text` is a valid value of `value` (`Text` always is).
pub fn accepts(value: Value, text: &str) -> bool {
    match value {
        Text => true,
        Bool => text == "true" || text == "false",
        Int => !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
        OneOf(words) => words.contains(&text),
        ListOf(words) => text.split(',').all(|w| words.contains(&w.trim())),
        Json => serde_json::from_str::<serde_json::Value>(text).is_ok(),
        ArtifactPath => text
            .split_once("::")
            .is_some_and(|(a, p)| !a.is_empty() && !p.is_empty()),
    }
}

/// What [`accepts`] wants, for a diagnostic: "`true` or `false`".
pub fn describe(value: Value) -> String {
    let words = |w: &[&str]| {
        w.iter()
            .map(|x| format!("`{x}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match value {
        Text => "text".into(),
        Bool => "`true` or `false`".into(),
        Int => "a whole number".into(),
        OneOf(w) => format!("one of {}", words(w)),
        ListOf(w) => format!("a comma-separated list of {}", words(w)),
        Json => "a JSON document".into(),
        ArtifactPath => "`ARTIFACT::PATH`".into(),
    }
}
